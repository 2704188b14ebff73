//! Referrals to the single front door: a partner's concern about a child, the MASH's decision
//! on it, and the two things a partnership measures about it — whether it was decided in time
//! and whether the child was referred before within twelve months.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{OrganisationId, PersonId};

/// Declares a closed vocabulary with a stable wire form.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The stable wire form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            /// Parses the wire form.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// What the referrer is worried about (the CIN census's factors, grouped).
    Concern {
        Neglect = "neglect",
        PhysicalAbuse = "physical_abuse",
        EmotionalAbuse = "emotional_abuse",
        SexualAbuse = "sexual_abuse",
        DomesticAbuse = "domestic_abuse",
        Exploitation = "exploitation",
        Missing = "missing",
        MentalHealth = "mental_health",
        SubstanceMisuse = "substance_misuse",
        ParentalCapacity = "parental_capacity",
        Other = "other",
    }
}

vocabulary! {
    /// How soon the referrer thinks the front door must act.
    Urgency {
        /// The child may be at risk of significant harm now.
        Immediate = "immediate",
        Urgent = "urgent",
        Routine = "routine",
    }
}

vocabulary! {
    /// What the referrer says about the family's consent to the referral.
    ReferralConsent {
        Given = "given",
        Refused = "refused",
        /// Not sought: seeking it would place the child at risk.
        NotSought = "not_sought",
    }
}

vocabulary! {
    /// The front door's decision.
    ReferralDecision {
        NoFurtherAction = "no_further_action",
        EarlyHelp = "early_help",
        ChildInNeedAssessment = "child_in_need_assessment",
        StrategyDiscussion = "strategy_discussion",
    }
}

vocabulary! {
    /// The MASH's red-amber-green rating of risk.
    Rag {
        Red = "red",
        Amber = "amber",
        Green = "green",
    }
}

vocabulary! {
    /// Where a referral is.
    ReferralStatus {
        Submitted = "submitted",
        Decided = "decided",
    }
}

/// Who referred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    pub subject: String,
    pub organisation: OrganisationId,
    pub role: String,
}

/// A decision on a referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub decision: ReferralDecision,
    pub rag: Rag,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// A referral.
#[derive(Clone, PartialEq, Eq)]
pub struct Referral {
    pub id: uuid::Uuid,
    pub person: PersonId,
    pub concerns: Vec<Concern>,
    /// What was seen or heard, in the referrer's words: personal data, never logged.
    pub what_was_seen: String,
    pub consent: ReferralConsent,
    pub urgency: Urgency,
    pub referrer: Referrer,
    pub submitted_at: DateTime<Utc>,
    /// When a decision is due.
    pub due_at: DateTime<Utc>,
    pub decided: Option<Decided>,
    /// The child was referred before within twelve months of this referral.
    pub re_referral: bool,
}

impl std::fmt::Debug for Referral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Referral {{ id: {}, .. }}", self.id)
    }
}

impl Referral {
    /// Its status.
    pub fn status(&self) -> ReferralStatus {
        if self.decided.is_some() {
            ReferralStatus::Decided
        } else {
            ReferralStatus::Submitted
        }
    }

    /// Still waiting for a decision after it was due.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.decided.is_none() && now > self.due_at
    }

    /// Decided, but after it was due.
    pub fn decided_late(&self) -> bool {
        self.decided.as_ref().is_some_and(|d| d.at > self.due_at)
    }
}

/// The window within which an earlier referral makes a new one a re-referral.
pub const RE_REFERRAL_WINDOW: TimeDelta = TimeDelta::days(365);

/// Whether a referral at `at` is a re-referral, given when the child was referred before
/// (by the hub's front door or, as a social-care record, by the local authority's own).
pub fn is_re_referral(at: DateTime<Utc>, earlier: impl IntoIterator<Item = DateTime<Utc>>) -> bool {
    earlier
        .into_iter()
        .any(|e| e < at && at - e <= RE_REFERRAL_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referral_within_twelve_months_of_another_is_a_re_referral() {
        let now = Utc::now();
        assert!(is_re_referral(now, [now - TimeDelta::days(200)]));
        assert!(!is_re_referral(now, [now - TimeDelta::days(400)]));
        assert!(!is_re_referral(now, []));
        assert!(
            !is_re_referral(now, [now + TimeDelta::days(1)]),
            "a later one is not earlier"
        );
    }

    #[test]
    fn overdue_is_undecided_past_the_due_time() {
        let now = Utc::now();
        let mut r = Referral {
            id: uuid::Uuid::nil(),
            person: PersonId(uuid::Uuid::nil()),
            concerns: vec![Concern::Neglect],
            what_was_seen: String::new(),
            consent: ReferralConsent::Given,
            urgency: Urgency::Routine,
            referrer: Referrer {
                subject: "s".into(),
                organisation: "school:100001".parse().unwrap(),
                role: "dsl".into(),
            },
            submitted_at: now - TimeDelta::hours(30),
            due_at: now - TimeDelta::hours(6),
            decided: None,
            re_referral: false,
        };
        assert!(r.overdue(now));
        assert_eq!(r.status(), ReferralStatus::Submitted);
        r.decided = Some(Decided {
            decision: ReferralDecision::EarlyHelp,
            rag: Rag::Green,
            reason: String::new(),
            at: now,
            by: "m".into(),
        });
        assert!(!r.overdue(now));
        assert!(r.decided_late());
        assert_eq!(
            Concern::parse("physical_abuse"),
            Some(Concern::PhysicalAbuse)
        );
    }
}
