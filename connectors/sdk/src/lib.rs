//! The Kinship connector SDK: the only crate a connector author depends on.
//!
//! A connector reads one agency's feed in its own format and hands the hub [`SourceRecord`]
//! envelopes: who a record is about (identity attributes the source holds) and what it says
//! (facts, each with a data category). The hub's sync engine owns everything else: cursors,
//! idempotent upsert, retries, quarantine and linkage. A connector knows no database and no
//! hub types, and keeps its configuration apart from its state.
//!
//! Limits: this crate imports no hub code and performs no IO itself.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What a connector declares about itself before it is switched on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// A stable id, e.g. `health-fhir`.
    pub id: String,
    /// The agency whose data it carries: `health`, `education`, `police`, `social_care`,
    /// `early_help`.
    pub agency: String,
    /// The connector's version.
    pub version: String,
    /// Every data category it may emit (catalogue names). Emitting another is a defect the
    /// engine refuses.
    pub categories: Vec<String>,
    /// A JSON Schema of its configuration.
    pub config_schema: serde_json::Value,
}

/// An identifier as the source holds it, before the hub checks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceIdentifier {
    /// Catalogue system: `nhs_number`, `upn`, `former_upn`, `pnc_id`, `la_person_id`.
    pub system: String,
    pub value: String,
    /// Whether the source says it was verified (e.g. NHS number status 01).
    pub verified: bool,
}

/// A name as the source holds it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceName {
    pub given: String,
    pub family: String,
    /// `official`, `usual`, `nickname`, `maiden`, `old`.
    pub usage: String,
}

/// An address as the source holds it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAddress {
    pub lines: Vec<String>,
    pub town: String,
    pub postcode: String,
    pub uprn: Option<String>,
    pub usage: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// A relationship the source declares to another of its own records.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRelationship {
    /// The source key of the related person's record.
    pub related_key: String,
    /// `parent`, `carer`, `child`, `sibling`, `household_member`.
    pub kind: String,
    pub parental_responsibility: Option<bool>,
}

/// Who a record is about, as the source knows them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub names: Vec<SourceName>,
    pub date_of_birth: Option<NaiveDate>,
    /// `female`, `male`, `other`, `unknown`.
    pub sex: Option<String>,
    pub identifiers: Vec<SourceIdentifier>,
    pub addresses: Vec<SourceAddress>,
    pub relationships: Vec<SourceRelationship>,
}

/// One thing the source says about the person.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFact {
    /// The fact's own key within the record, stable across pulls.
    pub key: String,
    /// A catalogue category the manifest declares.
    pub category: String,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub summary: String,
    pub payload: serde_json::Value,
}

/// The envelope of one record: provenance, identity, facts and the raw payload.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The source's own key for the record. It names a record, never a person.
    pub source_key: String,
    /// The organisation that holds the record, `<kind>:<code>`.
    pub organisation: String,
    pub identity: Identity,
    pub facts: Vec<SourceFact>,
    /// The bytes as the feed delivered them, kept for provenance and re-processing.
    pub raw: String,
}

impl std::fmt::Debug for SourceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Records carry personal data: show only provenance.
        f.debug_struct("SourceRecord")
            .field("source_key", &self.source_key)
            .field("organisation", &self.organisation)
            .field("facts", &self.facts.len())
            .finish_non_exhaustive()
    }
}

/// An opaque position in a feed, handed back to `pull` to resume after a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

/// A record the connector could not turn into an envelope: the engine quarantines it and
/// the batch goes on.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The source key, where the record had one.
    pub source_key: Option<String>,
    /// Why, naming the field or element, never the value.
    pub reason: String,
    pub raw: String,
}

impl std::fmt::Debug for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("source_key", &self.source_key)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// One batch of a pull.
#[derive(Clone, Debug)]
pub struct Batch {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejected>,
    /// Where to resume after this batch; `None` when the feed is exhausted.
    pub next: Option<Cursor>,
}

/// What went wrong, classified so the engine knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying: connection refused, timeout, 5xx, 429.
    #[error("transient: {message}")]
    Transient {
        message: String,
        /// The source asked to wait this long (e.g. `Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    /// Stop this connector and report: bad credentials, a feed that no longer speaks its format.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// A connector: configuration in, batches out.
pub trait Connector: Send + Sync {
    /// What the connector is and may emit.
    fn manifest(&self) -> Manifest;

    /// Checks that the source is reachable and speaks the expected format.
    fn check(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send;

    /// Pulls the batch after `cursor` (from the start when `None`).
    fn pull(
        &self,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<Batch, ConnectorError>> + Send;
}

/// Checks a batch against a manifest: every fact's category is one the manifest declares.
/// Returns the undeclared categories found, sorted, with how often each appeared.
pub fn undeclared_categories(manifest: &Manifest, batch: &Batch) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for fact in batch.records.iter().flat_map(|r| &r.facts) {
        if !manifest.categories.iter().any(|c| c == &fact.category) {
            *found.entry(fact.category.clone()).or_insert(0) += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(category: &str) -> SourceFact {
        SourceFact {
            key: "f1".into(),
            category: category.into(),
            kind: "ed_attendance".into(),
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            summary: String::new(),
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn undeclared_categories_are_counted() {
        let manifest = Manifest {
            id: "health-fhir".into(),
            agency: "health".into(),
            version: "0.1.0".into(),
            categories: vec!["health.unscheduled_care".into()],
            config_schema: serde_json::json!({}),
        };
        let batch = Batch {
            records: vec![SourceRecord {
                source_key: "pat-1".into(),
                organisation: "acute_trust:RX1".into(),
                identity: Identity::default(),
                facts: vec![
                    fact("health.unscheduled_care"),
                    fact("police.incident"),
                    fact("police.incident"),
                ],
                raw: "{}".into(),
            }],
            rejected: vec![],
            next: None,
        };
        let found = undeclared_categories(&manifest, &batch);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![("police.incident".to_string(), 2)]
        );
    }

    #[test]
    fn debug_of_a_record_shows_no_identity() {
        let record = SourceRecord {
            source_key: "pat-1".into(),
            organisation: "acute_trust:RX1".into(),
            identity: Identity {
                names: vec![SourceName {
                    given: "Amelia".into(),
                    family: "Hartley".into(),
                    usage: "official".into(),
                }],
                ..Identity::default()
            },
            facts: vec![],
            raw: "{\"name\":\"Amelia Hartley\"}".into(),
        };
        let shown = format!("{record:?}");
        assert!(shown.contains("pat-1"));
        assert!(!shown.contains("Amelia"));
    }
}
