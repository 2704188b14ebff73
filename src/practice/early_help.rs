//! Early help: an assessment of a child's and family's needs with their consent, a plan of
//! actions with owners and review dates, and one lead professional at a time.

use chrono::{DateTime, NaiveDate, Utc};

use super::referrals::vocabulary;
use crate::model::{FamilyId, OrganisationId, PersonId};

vocabulary! {
    /// How an early help episode ended.
    AssessmentOutcome {
        NeedsMet = "needs_met",
        SteppedUpToSocialCare = "stepped_up_to_social_care",
        SteppedDown = "stepped_down",
        Disengaged = "disengaged",
    }
}

/// The lead professional: who coordinates the team around the family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lead {
    pub subject: String,
    pub organisation: OrganisationId,
    pub since: DateTime<Utc>,
}

/// An early help assessment.
#[derive(Clone, PartialEq, Eq)]
pub struct Assessment {
    pub id: uuid::Uuid,
    pub person: PersonId,
    pub family: Option<FamilyId>,
    pub referral: Option<uuid::Uuid>,
    /// The needs and the family's views, in the practitioner's words: personal data.
    pub needs: String,
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub updated_at: DateTime<Utc>,
    pub closed: Option<(AssessmentOutcome, DateTime<Utc>, String)>,
    pub lead: Option<Lead>,
}

impl std::fmt::Debug for Assessment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Assessment {{ id: {}, .. }}", self.id)
    }
}

/// An action of the plan.
#[derive(Clone, PartialEq, Eq)]
pub struct PlanAction {
    pub id: uuid::Uuid,
    pub assessment: uuid::Uuid,
    pub action: String,
    /// Who owns it: a practitioner, a service or the family.
    pub owner: String,
    pub review_on: Option<NaiveDate>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for PlanAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlanAction {{ id: {}, .. }}", self.id)
    }
}

/// A transition of a referral or an assessment: when, who, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    /// `submitted`, `decided`, `started`, `updated`, `action_added`, `lead_assigned`,
    /// `closed`.
    pub event: String,
    /// What changed (no free text: states, ids, the previous and the new lead).
    pub detail: serde_json::Value,
}
