//! The record envelope: who a record is about, what it says, and the raw bytes it came from.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An identifier as the source holds it, before the hub checks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceIdentifier {
    /// A catalogue system: `nhs_number`, `upn`, `former_upn`, `pnc_id`, `la_person_id`.
    pub system: String,
    pub value: String,
    /// Whether the source says it was verified (for NHS numbers: trace status 01).
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
    pub line1: String,
    pub line2: Option<String>,
    pub town: String,
    pub postcode: String,
    pub uprn: Option<String>,
    /// `home`, `placement`, `temp`, `old`.
    pub usage: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// A relationship the source declares to another of its own records.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRelationship {
    /// The source key of the related person's record, from the same connector.
    pub related_key: String,
    /// How the related person stands to this one: `parent`, `carer`, `child`, `sibling`,
    /// `household_member`.
    pub kind: String,
    pub parental_responsibility: Option<bool>,
}

/// Who a record is about, as the source knows them. Empty for a record that only carries
/// facts about the person another record describes (see [`SourceRecord::subject`]).
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

impl Identity {
    /// Whether it says nothing about anyone.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
            && self.date_of_birth.is_none()
            && self.sex.is_none()
            && self.identifiers.is_empty()
            && self.addresses.is_empty()
            && self.relationships.is_empty()
    }
}

/// One thing the source says about the person.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFact {
    /// The fact's key within its record, stable across pulls (the hub derives the fact's id
    /// from the record and this key, so a re-pull updates rather than duplicates).
    pub key: String,
    /// A catalogue category the manifest declares.
    pub category: String,
    /// The agency (sector) that recorded it, when it differs from the manifest's: a local
    /// authority's connector carries early help as well as social care.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// What happened, e.g. `ed_attendance`.
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    /// One line a practitioner reads; never the person's name.
    pub summary: String,
    pub payload: serde_json::Value,
}

/// The envelope of one record.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The source's own key for the record, unique within the connector and stable across
    /// pulls. It names a record, never a person.
    pub source_key: String,
    /// The organisation that holds the record, `<kind>:<code>`.
    pub organisation: String,
    /// For a record that carries facts but no identity (a FHIR Encounter, a police event):
    /// the source key of the record, from the same connector, that describes the person.
    pub subject: Option<String>,
    pub identity: Identity,
    pub facts: Vec<SourceFact>,
    /// The bytes as the feed delivered them, kept for provenance and re-processing.
    pub raw: String,
}

impl SourceRecord {
    /// SHA-256 (hex) of everything the record says, without the raw bytes: a re-pull that
    /// says the same thing in different whitespace is unchanged.
    pub fn content_hash(&self) -> String {
        #[derive(Serialize)]
        struct Content<'a> {
            source_key: &'a str,
            organisation: &'a str,
            subject: Option<&'a str>,
            identity: &'a Identity,
            facts: &'a [SourceFact],
        }
        let bytes = serde_json::to_vec(&Content {
            source_key: &self.source_key,
            organisation: &self.organisation,
            subject: self.subject.as_deref(),
            identity: &self.identity,
            facts: &self.facts,
        })
        .unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}

impl std::fmt::Debug for SourceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Records carry personal data: show only provenance.
        f.debug_struct("SourceRecord")
            .field("source_key", &self.source_key)
            .field("organisation", &self.organisation)
            .field("subject", &self.subject)
            .field("facts", &self.facts.len())
            .finish_non_exhaustive()
    }
}

macro_rules! redacted {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    )*};
}
redacted!(
    SourceIdentifier,
    SourceName,
    SourceAddress,
    SourceRelationship,
    Identity,
    SourceFact
);

/// A record the connector could not turn into an envelope: the engine quarantines it with
/// the reason and the raw payload, and the batch goes on.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The source key, where the record had one.
    pub source_key: Option<String>,
    /// Why, naming the field or element, never the value: e.g. "`Patient.birthDate` is not a
    /// date", "`UPN` fails its check letter".
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(raw: &str) -> SourceRecord {
        SourceRecord {
            source_key: "Patient/1".into(),
            organisation: "acute_trust:RX1".into(),
            subject: None,
            identity: Identity {
                names: vec![SourceName {
                    given: "Amelia".into(),
                    family: "Hartley".into(),
                    usage: "official".into(),
                }],
                ..Identity::default()
            },
            facts: vec![],
            raw: raw.into(),
        }
    }

    #[test]
    fn the_content_hash_ignores_raw_bytes_and_sees_content() {
        let a = record("{\"a\":1}");
        let b = record("{ \"a\" : 1 }");
        assert_eq!(a.content_hash(), b.content_hash());
        let mut c = record("{\"a\":1}");
        c.identity.names[0].family = "Hartly".into();
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn debug_shows_provenance_and_no_identity() {
        let shown = format!("{:?}", record("{\"name\":\"Amelia Hartley\"}"));
        assert!(shown.contains("Patient/1"));
        assert!(!shown.contains("Amelia"));
        assert!(!format!("{:?}", record("x").identity).contains("Hartley"));
    }
}
