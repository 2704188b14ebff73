//! What the gate answers: permit or deny, the protocol and clause that decided, and why.

use std::sync::Arc;

use serde::Serialize;

/// Why a read was permitted or refused. The codes are stable: they reach clients in
/// `extensions.reason` and the board in the access log. Declared in evaluation order
/// (DOMAIN.md §5), so a later variant is a "later failing step".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// 1. The request declared no purpose of use.
    PurposeMissing,
    /// 2. No in-force protocol covers data flowing from the owner to the requester.
    NoActiveProtocol,
    /// 3. The protocol does not share for this purpose.
    PurposeNotPermitted,
    /// 4. The protocol does not share with this role.
    RoleNotPermitted,
    /// 5. The protocol does not share this category.
    CategoryNotShared,
    /// 6. The clause names no Article 9 / Article 10 condition for this class of data.
    NoLawfulCondition,
    /// 8. The principal has no active involvement with the child or family.
    NoLegitimateRelationship,
    /// 9. Consent is needed and none is in force.
    ConsentRequired,
    /// 9. Consent was withdrawn.
    ConsentWithdrawn,
    /// 9. A heightened category needs explicit consent.
    ExplicitConsentRequired,
    /// 10. The person is shielded.
    Shielded,
    /// Permitted with a written justification where only relationship or consent was missing.
    BreakGlass,
    /// Permitted.
    Permitted,
}

impl Reason {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PurposeMissing => "purpose_missing",
            Self::NoActiveProtocol => "no_active_protocol",
            Self::PurposeNotPermitted => "purpose_not_permitted",
            Self::RoleNotPermitted => "role_not_permitted",
            Self::CategoryNotShared => "category_not_shared",
            Self::NoLawfulCondition => "no_lawful_condition",
            Self::NoLegitimateRelationship => "no_legitimate_relationship",
            Self::ConsentRequired => "consent_required",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::ExplicitConsentRequired => "explicit_consent_required",
            Self::Shielded => "shielded",
            Self::BreakGlass => "break_glass",
            Self::Permitted => "permitted",
        }
    }

    /// The reason in words a data-protection officer accepts.
    pub fn explain(self) -> &'static str {
        match self {
            Self::PurposeMissing => "the request declared no purpose of use",
            Self::NoActiveProtocol => {
                "no information-sharing protocol in force covers this data flowing from its holder to your organisation"
            }
            Self::PurposeNotPermitted => {
                "the protocol does not share this data for the purpose you declared"
            }
            Self::RoleNotPermitted => "the protocol does not share this data with your role",
            Self::CategoryNotShared => "the protocol does not share this category of data",
            Self::NoLawfulCondition => {
                "the protocol names no lawful condition for this class of data"
            }
            Self::NoLegitimateRelationship => {
                "you have no recorded involvement with this child or family that the protocol accepts"
            }
            Self::ConsentRequired => "the protocol needs consent and none is in force",
            Self::ConsentWithdrawn => "consent was withdrawn",
            Self::ExplicitConsentRequired => "this category needs explicit consent",
            Self::Shielded => "the record is shielded",
            Self::BreakGlass => "released under break-glass with a written justification",
            Self::Permitted => "the protocol permits it",
        }
    }

    /// Whether this reason may be overridden by break-glass: only a missing relationship or
    /// consent (DOMAIN.md §5), never a shield, a purpose or a category.
    pub fn break_glass_may_override(self) -> bool {
        matches!(
            self,
            Self::NoLegitimateRelationship
                | Self::ConsentRequired
                | Self::ConsentWithdrawn
                | Self::ExplicitConsentRequired
        )
    }
}

/// The protocol and clause behind a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClauseRef {
    pub protocol: Arc<str>,
    pub version: Arc<str>,
    pub clause: Option<Arc<str>>,
}

/// The gate's answer for one (principal, purpose, subject, category, owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub reason: Reason,
    /// The protocol (and clause) that decided; none when no protocol covers the flow at all.
    pub by: Option<ClauseRef>,
    /// The payload keys released; `None` releases the whole payload.
    pub fields: Option<Arc<[String]>>,
    /// The protocol is past its review date (still in force; the board is told).
    pub review_overdue: bool,
    /// The owner must be told of this read.
    pub notify_owner: bool,
    /// Denied, but a written justification would release it under break-glass.
    pub break_glass_available: bool,
    /// The lawful basis the deciding clause relies on, in words (set on permits).
    pub basis: Option<Arc<str>>,
    /// Released although consent was refused, because the clause does not need consent where
    /// a child may be at risk: the refusal is recorded with the read.
    pub consent_refused: bool,
    /// The subject is shielded: every read of them, permitted or not, is flagged for the
    /// board.
    pub shielded_subject: bool,
}

impl Decision {
    /// A denial with no protocol behind it.
    pub fn deny(reason: Reason) -> Self {
        Self {
            reason,
            by: None,
            fields: None,
            review_overdue: false,
            notify_owner: false,
            break_glass_available: false,
            basis: None,
            consent_refused: false,
            shielded_subject: false,
        }
    }

    /// The release of the unenforced gate of `kinship bench gate`'s baseline.
    pub(crate) fn unenforced() -> Self {
        Self::deny(Reason::Permitted)
    }

    /// What must follow the decision: stable codes for the access log and clients.
    pub fn obligations(&self) -> Vec<&'static str> {
        let mut o = Vec::new();
        if self.is_break_glass() {
            o.extend([
                "record_justification",
                "flag_for_board",
                "notify_dpo",
                "notify_owner",
            ]);
        } else if self.notify_owner {
            o.push("notify_owner");
        }
        if self.review_overdue {
            o.push("flag_review_overdue");
        }
        if self.consent_refused {
            o.push("record_consent_refusal");
        }
        if self.shielded_subject {
            if !o.contains(&"flag_for_board") {
                o.push("flag_for_board");
            }
            o.push("shielded_record");
        }
        o
    }

    /// The decision in words a data-protection officer accepts: what, under which clause,
    /// why, and on what basis.
    pub fn explain(&self, category: crate::model::DataCategory) -> String {
        let under = match &self.by {
            Some(ClauseRef {
                protocol,
                version,
                clause: Some(clause),
            }) => format!(" under {protocol} v{version} clause {clause}"),
            Some(ClauseRef {
                protocol, version, ..
            }) => format!(" ({protocol} v{version} is not in force)"),
            None => String::new(),
        };
        let mut s = if self.permits() {
            format!(
                "`{category}` is shared with you{under}: {}",
                self.reason.explain()
            )
        } else {
            format!("`{category}` is withheld{under}: {}", self.reason.explain())
        };
        if let Some(basis) = self.basis.as_deref().filter(|_| self.permits()) {
            s.push_str("; lawful basis: ");
            s.push_str(basis);
        }
        if self.consent_refused {
            s.push_str("; consent was refused, and the refusal is recorded with this read");
        }
        if self.break_glass_available {
            s.push_str("; a written justification (Kinship-Justification) would release it under break-glass, flagged for the board");
        }
        if self.review_overdue {
            s.push_str("; the protocol is past its review date, so the board is told of every decision under it");
        }
        s
    }

    /// Whether data is released.
    pub fn permits(&self) -> bool {
        matches!(self.reason, Reason::Permitted | Reason::BreakGlass)
    }

    /// Whether it was a break-glass release.
    pub fn is_break_glass(&self) -> bool {
        self.reason == Reason::BreakGlass
    }
}
