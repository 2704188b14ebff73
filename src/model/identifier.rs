//! Identifier systems (DOMAIN.md §2). The check-digit types (NHS number, UPN, PNC ID) live in
//! the connector SDK so connectors and the hub check identifiers with the same code; they are
//! re-exported here. A value that fails its check is never a key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use kinship_connector_sdk::identifiers::{IdentifierError, NhsNumber, PncId, Upn};

/// The system an identifier belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierSystem {
    /// NHS number (England, Wales, Isle of Man; CHI and H&C numbers pass the same check).
    NhsNumber,
    /// Unique Pupil Number.
    Upn,
    /// A UPN the pupil held before.
    FormerUpn,
    /// Police National Computer id: criminal-offence data, gated as `police.youth_justice`.
    PncId,
    /// A local authority's child id, `la:<LA code>:<id>`.
    LaPersonId,
}

impl IdentifierSystem {
    /// All systems.
    pub const ALL: &'static [IdentifierSystem] = &[
        Self::NhsNumber,
        Self::Upn,
        Self::FormerUpn,
        Self::PncId,
        Self::LaPersonId,
    ];

    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NhsNumber => "nhs_number",
            Self::Upn => "upn",
            Self::FormerUpn => "former_upn",
            Self::PncId => "pnc_id",
            Self::LaPersonId => "la_person_id",
        }
    }

    /// The data category an identifier of this system is gated as.
    pub fn category(self) -> super::DataCategory {
        match self {
            Self::PncId => super::DataCategory::PoliceYouthJustice,
            _ => super::DataCategory::PersonIdentity,
        }
    }

    /// Checks and normalises a value of this system.
    pub fn normalise(self, raw: &str) -> Result<String, IdentifierError> {
        Ok(match self {
            Self::NhsNumber => raw.parse::<NhsNumber>()?.to_string(),
            Self::Upn | Self::FormerUpn => raw.parse::<Upn>()?.to_string(),
            Self::PncId => raw.parse::<PncId>()?.to_string(),
            Self::LaPersonId => {
                let v = raw.trim();
                if v.is_empty() || v.len() > 64 {
                    return Err(IdentifierError::Malformed("LA person id"));
                }
                v.to_owned()
            }
        })
    }
}

impl FromStr for IdentifierSystem {
    type Err = super::catalogue::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| super::catalogue::UnknownValue {
                kind: "identifier system",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for IdentifierSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
