//! The records of the child-and-family graph, as the store returns them and the gate releases
//! them. Every type that carries personal data has a redacting `Debug`: ids show, content does not.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::catalogue::{Agency, DataCategory, InvolvementKind, OrganisationId, Purpose};
use super::identifier::IdentifierSystem;
use super::ids::{FactId, FamilyId, InvolvementId, PersonId, SourceRecordId};

/// `Debug` that prints the type and its id, never its content.
macro_rules! redacted_debug {
    ($t:ty, $id:ident) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "{} {{ {}: {}, .. }}",
                    stringify!($t),
                    stringify!($id),
                    self.$id
                )
            }
        }
    };
}

/// Administrative sex or gender as recorded (FHIR `AdministrativeGender`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    /// Parses the wire form; anything else is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "female" => Sex::Female,
            "male" => Sex::Male,
            "other" => Sex::Other,
            _ => Sex::Unknown,
        }
    }
}

/// An organisation that sends records or employs principals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// `<kind>:<code>`.
    pub id: OrganisationId,
    /// Its name (not personal data).
    pub name: String,
}

/// A person node: a child or an adult. Names, identifiers and addresses hang off it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Sex,
    /// Under 18 when first recorded; the graph is about children and those around them.
    pub is_child: bool,
    /// A shielded person (adoption, refuge, witness protection): contact details are withheld
    /// from everyone but roles a shield names.
    pub shielded: bool,
}
redacted_debug!(Person, id);

/// A name as one source records it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName {
    pub person_id: PersonId,
    pub given: String,
    pub family: String,
    /// `official`, `usual`, `nickname`, `maiden`, `old`.
    pub usage: String,
    /// The organisation whose record this name came from.
    pub organisation: OrganisationId,
    pub source_record: Option<SourceRecordId>,
    /// The date of birth the same record gave with this name: linkage looks persons up by
    /// name and date of birth together.
    pub date_of_birth: Option<NaiveDate>,
}
redacted_debug!(PersonName, person_id);

/// A person identifier (NHS number, UPN, PNC ID, LA child id), normalised and checked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    pub person_id: PersonId,
    pub system: IdentifierSystem,
    pub value: String,
    /// For NHS numbers: the trace status was 01 (present and verified).
    pub verified: bool,
    pub organisation: OrganisationId,
    pub source_record: Option<SourceRecordId>,
}
redacted_debug!(Identifier, person_id);

impl Identifier {
    /// The category this identifier is gated as.
    pub fn category(&self) -> DataCategory {
        self.system.category()
    }
}

/// An address a source holds for a person.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub person_id: PersonId,
    pub line1: String,
    pub line2: Option<String>,
    pub town: String,
    pub postcode: String,
    pub uprn: Option<String>,
    /// `home`, `placement`, `temp`, `old`.
    pub usage: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub organisation: OrganisationId,
    pub source_record: Option<SourceRecordId>,
}
redacted_debug!(Address, person_id);

impl Address {
    /// The postcode upper-cased without spaces: the search key.
    pub fn normalise_postcode(raw: &str) -> String {
        raw.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    }
}

/// How two persons are related, as a source declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipKind {
    /// `related` is a parent of `person`.
    Parent,
    /// `related` is a carer (not a parent) of `person`.
    Carer,
    /// `related` is a child of `person`.
    Child,
    Sibling,
    HouseholdMember,
}

impl RelationshipKind {
    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parent => "parent",
            Self::Carer => "carer",
            Self::Child => "child",
            Self::Sibling => "sibling",
            Self::HouseholdMember => "household_member",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Parent,
            Self::Carer,
            Self::Child,
            Self::Sibling,
            Self::HouseholdMember,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A declared relationship: `related_person` is `kind` of `person_id`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub person_id: PersonId,
    pub related_person: PersonId,
    pub kind: RelationshipKind,
    pub parental_responsibility: Option<bool>,
    pub organisation: OrganisationId,
    pub source_record: Option<SourceRecordId>,
}
redacted_debug!(Relationship, person_id);

/// A family (declared relationships) or a household (a shared address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamilyKind {
    Family,
    Household,
}

impl FamilyKind {
    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Family => "family",
            Self::Household => "household",
        }
    }

    /// Parses the wire form; anything else is a family.
    pub fn parse(s: &str) -> Self {
        if s == "household" {
            Self::Household
        } else {
            Self::Family
        }
    }
}

/// A family or household group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    pub id: FamilyId,
    pub kind: FamilyKind,
    /// For a group the hub derives: `relationships` (declared by sources) or `address` (a
    /// shared current address). `None` for a group the hub's users recorded.
    pub basis: Option<String>,
}

/// A person's membership of a family, with the role they play in it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyMember {
    pub family_id: FamilyId,
    pub person_id: PersonId,
    /// `child`, `parent`, `carer`, `member`.
    pub role: String,
    pub organisation: OrganisationId,
    pub source_record: Option<SourceRecordId>,
}
redacted_debug!(FamilyMember, person_id);

/// One thing an agency knows about a person at a time.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub id: FactId,
    pub person_id: PersonId,
    /// The sector that sent it.
    pub agency: Agency,
    /// The organisation that sent it: the data's owner for the gate.
    pub organisation: OrganisationId,
    pub category: DataCategory,
    /// What happened, e.g. `ed_attendance`, `attendance_summary`, `cp_plan`.
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// One line a practitioner reads, built by the source or connector.
    pub summary: String,
    /// The structured content.
    pub payload: serde_json::Value,
    pub source_record: Option<SourceRecordId>,
}
redacted_debug!(Fact, id);

/// A professional's legitimate relationship with a child or family: the basis of need-to-know.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Involvement {
    pub id: InvolvementId,
    pub kind: InvolvementKind,
    /// The principal (token `sub`) who holds it; `None` when the whole organisation holds it
    /// (e.g. every DSL of the child's school).
    pub principal: Option<String>,
    pub organisation: OrganisationId,
    pub person_id: Option<PersonId>,
    pub family_id: Option<FamilyId>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The service within the organisation, e.g. `CAMHS`, `health visiting`.
    pub service: Option<String>,
    /// Where it came from: a source record or `hub`.
    pub source: String,
    /// For a sensitive service (CAMHS, sexual health, substance misuse): the category the
    /// involvement is governed as. `None` is `person.involvements`.
    pub category: Option<DataCategory>,
    /// How to reach the practitioner or team: a work phone or inbox, never the child's data.
    pub contact: Option<String>,
}
redacted_debug!(Involvement, id);

impl Involvement {
    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.started_at <= now && self.ended_at.is_none_or(|end| end > now)
    }

    /// The category a read of it is governed as.
    pub fn governed_as(&self) -> DataCategory {
        self.category.unwrap_or(DataCategory::PersonInvolvements)
    }
}

/// The state of a consent record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Given,
    Refused,
    Withdrawn,
}

impl ConsentState {
    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "given" => Some(Self::Given),
            "refused" => Some(Self::Refused),
            "withdrawn" => Some(Self::Withdrawn),
            _ => None,
        }
    }
}

/// What a child or parent agreed to, refused or withdrew.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: uuid::Uuid,
    pub person_id: PersonId,
    pub state: ConsentState,
    /// `child` or `parent`.
    pub given_by: String,
    pub purposes: Vec<Purpose>,
    /// Empty means every category.
    pub categories: Vec<DataCategory>,
    /// Empty means every organisation.
    pub organisations: Vec<OrganisationId>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}
redacted_debug!(Consent, id);

/// A raw payload as a connector delivered it, with its provenance.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub id: SourceRecordId,
    /// The connector that fetched it.
    pub connector: String,
    pub organisation: OrganisationId,
    /// The source's own key for the record (never a person key).
    pub source_key: String,
    pub fetched_at: DateTime<Utc>,
    /// SHA-256 of the payload, hex.
    pub content_hash: String,
    pub payload: String,
    pub person_id: Option<PersonId>,
    /// How the record was linked to `person_id`: `deterministic:nhs_number`, `generated`, ...
    pub link_method: Option<String>,
}
redacted_debug!(SourceRecord, id);
