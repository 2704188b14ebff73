//! Information-sharing protocol documents: one TOML file per protocol in `protocols/`.
//!
//! TOML because partners edit these by hand and review them as diffs: it has comments, real
//! dates and no implicit typing (YAML's `no` and `1.10` traps), and it is what the rest of the
//! hub's configuration uses. Every category, role, agency kind, purpose and involvement kind
//! must come from the catalogue, so a typo is a load error, not a silent deny.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use crate::model::{AgencyKind, DataCategory, InvolvementKind, Purpose, Role};

/// Where a protocol is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolStatus {
    /// Being written; grants nothing.
    Draft,
    /// Signed and in force between its dates.
    Active,
    /// Paused by the board; grants nothing.
    Suspended,
    /// Ended; grants nothing.
    Withdrawn,
}

/// Whether a read needs the principal to be involved with the child or family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipRule {
    /// An active involvement of one of the clause's kinds is needed.
    Required,
    /// The role's remit under this clause is area-wide (e.g. a MASH triaging contacts).
    AreaWide,
}

/// What consent a clause needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentRule {
    /// Consent covering the purpose, category and owner must be in force.
    Required,
    /// Not needed where a child may be at risk of significant harm (safeguarding); a refusal is
    /// recorded but does not stop the read.
    NotRequiredIfRisk,
    /// Not needed: a statutory basis or implied consent in a care team.
    NotRequired,
}

/// The lawful basis a clause relies on (DOMAIN.md §5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawfulBasis {
    /// The UK GDPR Article 6 basis, e.g. `6(1)(e) public task`.
    pub article6: String,
    /// The Article 9 condition, needed for special-category data.
    pub article9: Option<String>,
    /// The DPA 2018 Schedule 1 condition that goes with it, e.g. `Part 2 paragraph 18`.
    pub schedule1: Option<String>,
    /// The Article 10 authority or condition, needed for criminal-offence data.
    pub article10: Option<String>,
    /// The statutory powers relied on, e.g. `Children Act 1989 s47`.
    #[serde(default)]
    pub powers: Vec<String>,
}

/// A category a clause shares: one catalogue name, a family (`health.*`) or everything (`*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CategoryPattern {
    All,
    Family(String),
    One(DataCategory),
}

impl CategoryPattern {
    /// Whether `category` falls under the pattern.
    pub fn matches(&self, category: DataCategory) -> bool {
        match self {
            Self::All => true,
            Self::Family(f) => category.family() == f,
            Self::One(c) => *c == category,
        }
    }
}

impl<'de> Deserialize<'de> for CategoryPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "*" {
            return Ok(Self::All);
        }
        if let Some(family) = s.strip_suffix(".*") {
            if DataCategory::ALL.iter().any(|c| c.family() == family) {
                return Ok(Self::Family(family.to_owned()));
            }
            return Err(serde::de::Error::custom(format!(
                "unknown data category family `{s}`"
            )));
        }
        s.parse().map(Self::One).map_err(serde::de::Error::custom)
    }
}

/// One clause: a data flow from some agencies to others, for purposes, roles and categories,
/// with the conditions a read must meet.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// The clause number as printed in the signed agreement, e.g. `4.2`.
    pub id: String,
    /// What the clause allows, in a sentence.
    pub summary: String,
    /// Agency kinds whose data flows out (the owners).
    pub from: Vec<AgencyKind>,
    /// Agency kinds whose staff receive it.
    pub to: Vec<AgencyKind>,
    pub purposes: Vec<Purpose>,
    pub roles: Vec<Role>,
    pub categories: Vec<CategoryPattern>,
    /// Only these keys of a fact's payload are released (e.g. Operation Encompass's minimum
    /// set); empty releases the whole payload.
    #[serde(default)]
    pub fields: Vec<String>,
    pub relationship: RelationshipRule,
    /// The involvement kinds that establish need-to-know when `relationship = "required"`.
    #[serde(default)]
    pub involvements: Vec<InvolvementKind>,
    pub consent: ConsentRule,
    /// Heightened categories (mental, sexual health, substance misuse) need explicit consent.
    #[serde(default)]
    pub explicit_consent_for_heightened: bool,
    /// Whether a principal may read past a missing relationship or consent with a written
    /// justification. Always flagged for the board.
    #[serde(default)]
    pub break_glass: bool,
    /// Whether the data's owner is told of each read under this clause.
    #[serde(default)]
    pub notify_owner: bool,
    pub lawful_basis: LawfulBasis,
}

/// A signed information-sharing protocol.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// A short stable id, e.g. `P-MASH`.
    pub id: String,
    pub title: String,
    pub version: String,
    pub status: ProtocolStatus,
    /// The agency kinds that signed.
    pub parties: Vec<AgencyKind>,
    #[serde(deserialize_with = "toml_date")]
    pub effective_from: NaiveDate,
    #[serde(default, deserialize_with = "toml_date_opt")]
    pub expires_on: Option<NaiveDate>,
    #[serde(default, deserialize_with = "toml_date_opt")]
    pub review_by: Option<NaiveDate>,
    /// Who approved it and when, as recorded in the signed copy.
    pub approved_by: String,
    /// The version of the information-sharing advice it follows.
    pub rule_set: String,
    /// How long recipients may keep what they receive.
    pub retention: String,
    pub clauses: Vec<Clause>,
    /// The file it was read from (set by the loader).
    #[serde(skip)]
    pub source: PathBuf,
}

impl Protocol {
    /// Whether it grants anything on `today`.
    pub fn in_force(&self, today: NaiveDate) -> bool {
        self.status == ProtocolStatus::Active
            && self.effective_from <= today
            && self.expires_on.is_none_or(|end| today <= end)
    }

    /// Whether it is past its review date (still in force, but every decision says so).
    pub fn review_overdue(&self, today: NaiveDate) -> bool {
        self.review_by.is_some_and(|r| r < today)
    }
}

fn toml_date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let dt = toml::value::Datetime::deserialize(d)?;
    match (dt.date, dt.time) {
        (Some(date), None) => NaiveDate::from_ymd_opt(
            i32::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        )
        .ok_or_else(|| serde::de::Error::custom("not a calendar date")),
        _ => Err(serde::de::Error::custom(
            "expected a date like 2026-04-01, without a time",
        )),
    }
}

fn toml_date_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    toml_date(d).map(Some)
}

/// Why protocols could not be loaded. Names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("cannot read protocols from `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A TOML error as one line that names the line of the file it is on.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
    match line {
        Some(l) => format!("line {l}: {}", e.message()),
        None => e.message().to_owned(),
    }
}

/// Reads and checks one protocol file.
pub fn parse(path: &Path, text: &str) -> Result<Protocol, ProtocolError> {
    let invalid = |message: String| ProtocolError::Invalid {
        path: path.to_owned(),
        message,
    };
    let mut protocol: Protocol = toml::from_str(text).map_err(|e| invalid(toml_error(text, &e)))?;
    protocol.source = path.to_owned();
    check(&protocol).map_err(invalid)?;
    Ok(protocol)
}

/// Structural checks a protocol must pass to be loaded at all.
fn check(p: &Protocol) -> Result<(), String> {
    if p.clauses.is_empty() {
        return Err(format!("protocol `{}` has no clauses", p.id));
    }
    for c in &p.clauses {
        let name = format!("clause `{}`", c.id);
        for kind in c.from.iter().chain(&c.to) {
            if !p.parties.contains(kind) {
                return Err(format!("{name}: `{kind}` is not a party to the protocol"));
            }
        }
        if c.from.is_empty() || c.to.is_empty() || c.purposes.is_empty() || c.roles.is_empty() {
            return Err(format!(
                "{name}: from, to, purposes and roles must not be empty"
            ));
        }
        if c.categories.is_empty() {
            return Err(format!("{name}: shares no categories"));
        }
        if c.relationship == RelationshipRule::Required && c.involvements.is_empty() {
            return Err(format!(
                "{name}: relationship is required but no involvement kinds are listed"
            ));
        }
        if c.lawful_basis.article6.trim().is_empty() {
            return Err(format!("{name}: lawful_basis.article6 is empty"));
        }
    }
    if let Some(end) = p.expires_on
        && end < p.effective_from
    {
        return Err(format!(
            "protocol `{}` expires before it takes effect",
            p.id
        ));
    }
    Ok(())
}

/// Reads every `*.toml` in `dir`, sorted by file name, failing on the first bad file.
pub fn load_dir(dir: &Path) -> Result<Vec<Protocol>, ProtocolError> {
    let io = |source| ProtocolError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut protocols = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| ProtocolError::Io {
            path: path.clone(),
            source,
        })?;
        protocols.push(parse(&path, &text)?);
    }
    let mut ids: Vec<&str> = protocols.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(ProtocolError::Invalid {
            path: dir.to_owned(),
            message: format!("protocol id `{}` is used by two files", w[0]),
        });
    }
    Ok(protocols)
}
