//! Kinship connector for schools: reads DfE Common Transfer Files (CTF XML), one file per
//! batch, from an HTTP file service or a folder, and hands the hub one envelope per pupil and
//! one per pupil contact.
//!
//! - [`Config`]: where the files are (`base_url` or `folder`, exactly one) and how to read them.
//! - [`EducationConnector`]: the SDK [`Connector`]: `check` lists one file (or reads the
//!   folder), `pull` reads the file after the cursor; the cursor is the name of the last file
//!   fully delivered.
//! - [`feed`] (feature `feed`): renders hub envelopes as CTF files and serves them.
//!
//! What a file becomes (see `parse`): a pupil record keyed `ctf:{LAESTAB}:{UPN}` with names,
//! date of birth, sex, UPN and former UPN, the home address and facts for enrolment (with
//! looked-after status and the CME signal), attendance, FSM, SEN, exclusions (a Kinship
//! extension element) and ethnicity; a record per contact keyed
//! `ctf:{LAESTAB}:{UPN}:contact:{n}`, related to the pupil.
//!
//! Limits: imports only the connector SDK; no database, no hub types. Reads files whole (one
//! file is one batch) but parses them as a stream, one pupil at a time.

mod config;
mod ctf;
mod cursor;
mod parse;
mod source;
mod xml;

#[cfg(feature = "feed")]
pub mod feed;

use kinship_connector_sdk::{Batch, Connector, ConnectorError, Cursor, Manifest, catalogue};

pub use config::Config;

use cursor::FileCursor;
use source::Source;

/// The connector kind the hub's configuration names.
pub const KIND: &str = "education-ctf";

/// The agency whose data this connector carries.
const AGENCY: &str = "education";

/// Every category a CTF file can yield: identity, addresses and contacts' relationships on
/// the records; the rest as facts.
const CATEGORIES: &[&str] = &[
    "person.identity",
    "person.contact",
    "person.relationships",
    "person.ethnicity",
    "education.enrolment",
    "education.attendance",
    "education.exclusions",
    "education.fsm",
    "education.sen",
];

/// Reads Common Transfer Files, one file per batch.
pub struct EducationConnector {
    source: Source,
}

impl EducationConnector {
    /// Builds the connector; a configuration that names no source, or both, is a fatal error.
    pub fn new(config: Config) -> Result<Self, ConnectorError> {
        config.validate()?;
        Ok(Self {
            source: Source::new(&config)?,
        })
    }

    /// Builds from the hub's JSON configuration table; a bad key is a fatal error naming it.
    pub fn from_json(config: serde_json::Value) -> Result<Self, ConnectorError> {
        let config: Config = serde_json::from_value(config)
            .map_err(|e| ConnectorError::Fatal(format!("config: {e}")))?;
        Self::new(config)
    }
}

impl Connector for EducationConnector {
    fn manifest(&self) -> Manifest {
        debug_assert!(CATEGORIES.iter().all(|c| catalogue::CATEGORIES.contains(c)));
        Manifest {
            id: KIND.to_owned(),
            agency: AGENCY.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            categories: CATEGORIES.iter().map(|c| (*c).to_owned()).collect(),
            config_schema: serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default(),
        }
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.source.check().await
    }

    async fn pull(&self, cursor: Option<&Cursor>) -> Result<Batch, ConnectorError> {
        let after = cursor.map(FileCursor::decode).transpose()?;
        let after = after.as_ref().map(|c| c.after.as_str());
        let Some(name) = self.source.next_after(after).await? else {
            // Nothing after the cursor: the hub keeps the cursor it has and asks again from it
            // on the next sync.
            return Ok(Batch::default());
        };
        let document = self.source.read(&name).await?;
        let mut batch = match document {
            source::Document::Text(text) => tokio::task::spawn_blocking(move || {
                let parsed = parse::document(&text);
                Batch {
                    records: parsed.records,
                    rejected: parsed.rejected,
                    next: None,
                }
            })
            .await
            .map_err(|_| ConnectorError::Fatal("the CTF parser stopped unexpectedly".into()))?,
            source::Document::Unreadable { reason, raw } => Batch {
                records: Vec::new(),
                rejected: vec![kinship_connector_sdk::Rejected {
                    source_key: None,
                    reason,
                    raw,
                }],
                next: None,
            },
        };
        batch.next = Some(FileCursor { after: name }.encode());
        Ok(batch)
    }
}
