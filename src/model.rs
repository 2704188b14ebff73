//! Plain types shared by every layer: identifiers, the data-category catalogue, purposes,
//! roles, principals and the records of the child-and-family graph.
//!
//! This module is a leaf: it imports nothing from the rest of the crate, knows no database and
//! no GraphQL. Types that hold personal data implement a redacting `Debug`, so a stray `{:?}`
//! in a log line or a panic never prints a name, a date of birth or an identifier.

pub mod catalogue;
pub mod graph;
pub mod identifier;
pub mod ids;
pub mod notification;
pub mod principal;

pub use catalogue::{
    Agency, AgencyKind, DataCategory, DataClass, InvolvementKind, OrganisationId, Purpose, Role,
};
pub use graph::{
    Address, Consent, ConsentState, Fact, Family, FamilyKind, FamilyMember, Identifier,
    Involvement, Organisation, Person, PersonName, Relationship, RelationshipKind, Sex,
    SourceRecord,
};
pub use identifier::{IdentifierError, IdentifierSystem, NhsNumber, PncId, Upn};
pub use ids::{FactId, FamilyId, InvolvementId, PersonId, SourceRecordId};
pub use notification::NotificationKind;
pub use principal::Principal;
