//! Notifications the hub pushes when a fact arrives, and which facts call for one.
//!
//! Only Operation Encompass today: a police domestic-abuse incident with a child present is
//! pushed to the designated safeguarding lead of the child's current school before the next
//! school day starts. The rule is code for now; a second kind would make it a data file beside
//! the protocols.

use super::catalogue::{DataCategory, InvolvementKind, Purpose, Role};
use super::graph::Fact;

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// A domestic-abuse incident the child was present at, for the school's DSL.
    OperationEncompass,
}

/// The fact kind the police connector gives a domestic-abuse incident about a child.
pub const DOMESTIC_ABUSE_INCIDENT: &str = "domestic_abuse_incident";

impl NotificationKind {
    /// Every kind.
    pub const ALL: [Self; 1] = [Self::OperationEncompass];

    /// The stable wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OperationEncompass => "operation_encompass",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of notification a fact calls for, if any: a domestic-abuse incident whose
    /// payload says the child was present.
    pub fn for_fact(fact: &Fact) -> Option<Self> {
        let present =
            fact.payload.get("role").and_then(serde_json::Value::as_str) == Some("child_present");
        (fact.category == DataCategory::PoliceDomesticAbuse
            && fact.kind == DOMESTIC_ABUSE_INCIDENT
            && present)
            .then_some(Self::OperationEncompass)
    }

    /// The category the notification discloses.
    pub fn category(self) -> DataCategory {
        match self {
            Self::OperationEncompass => DataCategory::PoliceDomesticAbuse,
        }
    }

    /// The purpose it is disclosed for.
    pub fn purpose(self) -> Purpose {
        match self {
            Self::OperationEncompass => Purpose::Safeguarding,
        }
    }

    /// The role that receives it.
    pub fn role(self) -> Role {
        match self {
            Self::OperationEncompass => Role::Dsl,
        }
    }

    /// The involvement that makes an organisation a recipient.
    pub fn involvement(self) -> InvolvementKind {
        match self {
            Self::OperationEncompass => InvolvementKind::DslCurrentSchool,
        }
    }
}
