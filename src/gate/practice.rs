//! The front door and early help through the gate.
//!
//! A referral is `social_care.contact_referral` about its child, held by the local authority
//! that runs the front door; an early help assessment is `early_help.assessment` and its plan
//! and lead professional `early_help.plan`, held by the same authority. Reading any of them is
//! a protocol decision like any other read, and every write is logged as an action on the
//! child it is about.

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, TimeDelta};
use uuid::Uuid;

use super::rules::Question;
use super::{Decision, GateError, Gated, RequestGate, denial};
use crate::model::{
    DataCategory, FamilyId, Involvement, InvolvementId, InvolvementKind, OrganisationId, PersonId,
    Role,
};
use crate::practice::early_help::{Assessment, AssessmentOutcome, Lead, PlanAction, Transition};
use crate::practice::referrals::{
    Concern, Decided, Rag, Referral, ReferralConsent, ReferralDecision, Referrer, Urgency,
    is_re_referral,
};
use crate::store::practice::{self as rows, QueueFilter};
use crate::store::{begin_write, load};

/// The value of a lookup that found something the caller may work on; otherwise returns from
/// the caller with `None` (nothing has that id) or the refusal.
macro_rules! or_return {
    ($found:expr) => {
        match $found {
            None => return Ok(None),
            Some(Err(refused)) => return Ok(Some(Err(refused))),
            Some(Ok(found)) => found,
        }
    };
}

const REFERRAL: DataCategory = DataCategory::SocialCareContactReferral;
const ASSESSMENT: DataCategory = DataCategory::EarlyHelpAssessment;
const PLAN: DataCategory = DataCategory::EarlyHelpPlan;

/// The longest free text a practitioner may write into one field.
pub const MAX_TEXT: usize = 10_000;

/// A referral as a partner submits it.
#[derive(Clone)]
pub struct NewReferral {
    pub person: PersonId,
    pub concerns: Vec<Concern>,
    pub what_was_seen: String,
    pub consent: ReferralConsent,
    pub urgency: Urgency,
}

/// A referral as released, with its transitions.
#[derive(Clone, Debug)]
pub struct ReferralRead {
    pub referral: Referral,
    pub transitions: Vec<Transition>,
}

/// A page of the front door's queue.
#[derive(Clone, Debug, Default)]
pub struct ReferralPage {
    pub referrals: Vec<ReferralRead>,
    /// Referrals in the page's range the caller may not see.
    pub withheld: u64,
    pub last: Option<Uuid>,
    pub has_next: bool,
}

/// An assessment as released: the plan only where `early_help.plan` is shared too.
#[derive(Clone, Debug)]
pub struct AssessmentRead {
    pub assessment: Assessment,
    pub actions: Vec<PlanAction>,
    /// The lead professional and the plan's actions were withheld: why.
    pub plan_withheld: Option<super::Denial>,
    pub transitions: Vec<Transition>,
}

/// Roles that are not partners' practitioners: oversight and administration.
const NOT_PARTNERS: &[Role] = &[
    Role::BoardMember,
    Role::Dpo,
    Role::SystemAdmin,
    Role::DataSteward,
];

fn check_text(name: &str, text: &str) -> Result<(), GateError> {
    if text.trim().is_empty() {
        return Err(GateError::Invalid(format!("`{name}` must not be empty")));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(GateError::Invalid(format!(
            "`{name}` is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(())
}

impl RequestGate {
    fn practice(&self) -> &crate::config::PracticeConfig {
        self.inner.gate.practice()
    }

    /// Whom to ask about an involvement one may not see.
    pub fn further_involvement_contact(&self) -> String {
        let p = self.practice();
        p.further_involvement_contact
            .clone()
            .unwrap_or_else(|| format!("the front door of {}", p.local_authority))
    }

    /// The role a practice record names for the caller: the first they hold.
    fn acting_role(&self) -> String {
        self.principal()
            .roles
            .first()
            .map_or_else(String::new, |r| r.as_str().to_owned())
    }

    fn transition(&self, event: &str, detail: serde_json::Value) -> Transition {
        Transition {
            at: self.inner.now,
            actor: self.principal().subject.clone(),
            role: self.acting_role(),
            event: event.to_owned(),
            detail,
        }
    }

    /// Logs a write as an action on its child.
    fn act_on_subject(&self, action: &str, record: Uuid, person: PersonId) {
        self.act(serde_json::json!({
            "action": action,
            "record": record.to_string(),
            "subject": person.to_string(),
        }));
    }

    fn require_front_door(&self, operation: &str) -> Result<(), GateError> {
        let roles = &self.practice().front_door_roles;
        if self.holds_one_of(roles) {
            Ok(())
        } else {
            Err(GateError::Forbidden(format!(
                "`{operation}` is for the front door's roles ({})",
                roles.join(", ")
            )))
        }
    }

    /// The decision on one practice record's category about `person`, recorded.
    pub(super) async fn decide_practice(
        &self,
        person: PersonId,
        category: DataCategory,
        released: u64,
    ) -> Result<Gated<()>, GateError> {
        let owner = self.inner.gate.practice_owner();
        let contexts = self.contexts(&[person]).await?;
        let Some(ctx) = contexts.get(&person) else {
            return Ok(Ok(()));
        };
        let d = self.decide(ctx, person, category, &owner);
        let key = (person, category, owner);
        if d.permits() {
            self.record(key, &d, released, 0);
            Ok(Ok(()))
        } else {
            self.record(key, &d, 0, released.max(1));
            Ok(Err(denial(category, &d)))
        }
    }

    // --- referrals ---------------------------------------------------------------------------

    /// Submits a referral to the front door from any partner's practitioner. `None` when no
    /// person has the id.
    pub async fn submit_referral(&self, new: NewReferral) -> Result<Option<Referral>, GateError> {
        self.require_purpose()?;
        if self
            .principal()
            .roles
            .iter()
            .all(|r| NOT_PARTNERS.contains(r))
        {
            return Err(GateError::Forbidden(
                "referrals come from partners' practitioners".into(),
            ));
        }
        if new.concerns.is_empty() {
            return Err(GateError::Invalid("name at least one concern".into()));
        }
        check_text("whatWasSeen", &new.what_was_seen)?;
        if self.existing(&[new.person]).await?.is_empty() {
            return Ok(None);
        }
        let conn = self.inner.store.conn();
        let now = self.inner.now;
        let earlier = rows::earlier_referrals(conn, new.person).await?;
        let p = self.principal();
        let mut concerns = new.concerns;
        concerns.sort();
        concerns.dedup();
        let referral = Referral {
            id: Uuid::now_v7(),
            person: new.person,
            concerns,
            what_was_seen: new.what_was_seen,
            consent: new.consent,
            urgency: new.urgency,
            referrer: Referrer {
                subject: p.subject.clone(),
                organisation: p.organisation.clone(),
                role: self.acting_role(),
            },
            submitted_at: now,
            due_at: now + TimeDelta::hours(i64::from(self.practice().referral_decision_hours)),
            decided: None,
            re_referral: is_re_referral(now, earlier),
        };
        let t = self.transition(
            "submitted",
            serde_json::json!({
                "to": "submitted",
                "urgency": referral.urgency.as_str(),
                "consent": referral.consent.as_str(),
                "reReferral": referral.re_referral,
            }),
        );
        // A referral opens a MASH enquiry: the front door's need-to-know about the child, held
        // by the whole authority's MASH (P-MASH 4.1) until the referral is decided.
        let enquiry = self.authority_involvement(
            InvolvementKind::MashEnquiry,
            referral.person,
            "front door",
            format!("referral:{}", referral.id),
        );
        let txn = begin_write(conn).await?;
        rows::insert_referral(&txn, &referral).await?;
        load::involvements(&txn, &[enquiry]).await?;
        rows::event(&txn, "referral", referral.id, referral.person, &t).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on_subject("submit_referral", referral.id, referral.person);
        Ok(Some(referral))
    }

    async fn with_transitions(
        &self,
        referrals: Vec<Referral>,
    ) -> Result<Vec<ReferralRead>, GateError> {
        let ids: Vec<Uuid> = referrals.iter().map(|r| r.id).collect();
        let mut events: HashMap<Uuid, Vec<Transition>> = HashMap::new();
        for (id, t) in rows::events(self.inner.store.conn(), &ids).await? {
            events.entry(id).or_default().push(t);
        }
        Ok(referrals
            .into_iter()
            .map(|r| ReferralRead {
                transitions: events.remove(&r.id).unwrap_or_default(),
                referral: r,
            })
            .collect())
    }

    /// The front door's queue, oldest first, for the front door's roles: each referral is
    /// released as its child's `social_care.contact_referral`; the rest are counted.
    pub async fn referral_queue(
        &self,
        filter: QueueFilter,
        first: usize,
        after: Option<Uuid>,
    ) -> Result<ReferralPage, GateError> {
        self.require_purpose()?;
        self.require_front_door("referrals")?;
        let conn = self.inner.store.conn();
        let mut rows = rows::referrals_page(conn, filter, after, first as u64 + 1).await?;
        let has_next = rows.len() > first;
        rows.truncate(first);
        let last = rows.last().map(|r| r.id);
        let persons: Vec<PersonId> = rows
            .iter()
            .map(|r| r.person)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let contexts = self.contexts(&persons).await?;
        let owner = self.inner.gate.practice_owner();
        let mut shown = Vec::new();
        let mut withheld = 0;
        for r in rows {
            let Some(ctx) = contexts.get(&r.person) else {
                continue;
            };
            let d = self.decide(ctx, r.person, REFERRAL, &owner);
            if d.permits() {
                self.record((r.person, REFERRAL, owner.clone()), &d, 1, 0);
                shown.push(r);
            } else {
                self.record((r.person, REFERRAL, owner.clone()), &d, 0, 1);
                withheld += 1;
            }
        }
        Ok(ReferralPage {
            referrals: self.with_transitions(shown).await?,
            withheld,
            last,
            has_next,
        })
    }

    /// Decides a referral. `None` when no referral has the id; a refusal when the caller may
    /// not see it.
    pub async fn decide_referral(
        &self,
        id: Uuid,
        decision: ReferralDecision,
        rag: Rag,
        reason: String,
    ) -> Result<Option<Gated<ReferralRead>>, GateError> {
        self.require_purpose()?;
        self.require_front_door("decideReferral")?;
        check_text("reason", &reason)?;
        let conn = self.inner.store.conn();
        let Some(referral) = rows::referral(conn, id).await? else {
            return Ok(None);
        };
        if let Err(d) = self.decide_practice(referral.person, REFERRAL, 1).await? {
            return Ok(Some(Err(d)));
        }
        let decided = Decided {
            decision,
            rag,
            reason,
            at: self.inner.now,
            by: self.principal().subject.clone(),
        };
        let late = self.inner.now > referral.due_at;
        let t = self.transition(
            "decided",
            serde_json::json!({
                "from": "submitted",
                "to": "decided",
                "decision": decision.as_str(),
                "rag": rag.as_str(),
                "late": late,
            }),
        );
        let txn = begin_write(conn).await?;
        if !rows::decide_referral(&txn, id, &decided).await? {
            return Err(GateError::Invalid(format!(
                "referral {id} was already decided"
            )));
        }
        rows::event(&txn, "referral", id, referral.person, &t).await?;
        rows::end_enquiry(&txn, id, self.inner.now).await?;
        if decision == ReferralDecision::EarlyHelp {
            // Stepped down to early help: the authority's early help service joins the team
            // around the child, so that it may seek the family's consent and assess.
            let allocation = self.authority_involvement(
                InvolvementKind::TafMember,
                referral.person,
                "early help",
                format!("referral:{id}:early_help"),
            );
            load::involvements(&txn, &[allocation]).await?;
        }
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on_subject("decide_referral", id, referral.person);
        let referral = Referral {
            decided: Some(decided),
            ..referral
        };
        let mut read = self.with_transitions(vec![referral]).await?;
        Ok(read.pop().map(Ok))
    }

    /// The referrals about each person, released as their `social_care.contact_referral`.
    pub async fn referrals_of(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Vec<ReferralRead>>>, GateError> {
        self.require_purpose()?;
        let rows = rows::referrals_of(self.inner.store.conn(), ids).await?;
        let owner = self.inner.gate.practice_owner();
        let rows: Vec<(Referral, OrganisationId)> =
            rows.into_iter().map(|r| (r, owner.clone())).collect();
        let released = self
            .release_lists(ids, rows, |(r, _)| r.person, |(_, o)| (REFERRAL, o))
            .await?;
        let mut out = HashMap::new();
        for (p, r) in released {
            let read = match r {
                Ok(list) => Ok(self
                    .with_transitions(list.into_iter().map(|(r, _)| r).collect())
                    .await?),
                Err(d) => Err(d),
            };
            out.insert(p, read);
        }
        Ok(out)
    }

    // --- early help ----------------------------------------------------------------------------

    /// Would the caller, as lead professional of this child's early help, be allowed to hold
    /// the assessment? Asked before one is started: the involvement does not exist yet, so
    /// what remains is the protocol's consent rule and lawful basis.
    /// The decision is returned so that starting records the release under it, without
    /// asking the rules again.
    async fn may_lead(&self, person: PersonId) -> Result<Gated<Option<Decision>>, GateError> {
        let owner = self.inner.gate.practice_owner();
        let contexts = self.contexts(&[person]).await?;
        let Some(ctx) = contexts.get(&person) else {
            return Ok(Ok(None));
        };
        let mut as_lead = (**ctx).clone();
        as_lead.involvements.push(InvolvementKind::LeadProfessional);
        let d = self.inner.rules.decide(&Question {
            principal: self.principal(),
            purpose: self.purpose(),
            category: ASSESSMENT,
            owner: &owner,
            subject: &as_lead,
            justified: false,
            now: self.inner.now,
        });
        if d.permits() {
            Ok(Ok(Some(d)))
        } else {
            self.record((person, ASSESSMENT, owner), &d, 0, 1);
            Ok(Err(denial(ASSESSMENT, &d)))
        }
    }

    /// An involvement the local authority's service holds with a child from now, as the
    /// front door's decisions give it (no named practitioner).
    fn authority_involvement(
        &self,
        kind: InvolvementKind,
        person: PersonId,
        service: &str,
        source: String,
    ) -> Involvement {
        Involvement {
            id: InvolvementId(Uuid::now_v7()),
            kind,
            principal: None,
            organisation: self.inner.gate.practice_owner(),
            person_id: Some(person),
            family_id: None,
            started_at: self.inner.now,
            ended_at: None,
            service: Some(service.into()),
            source,
            category: None,
            contact: None,
        }
    }

    /// The involvement a lead professional holds: with the family when there is one.
    fn lead_involvement(&self, a: &Assessment, lead: &Lead) -> Involvement {
        Involvement {
            id: InvolvementId(Uuid::new_v4()),
            kind: InvolvementKind::LeadProfessional,
            principal: Some(lead.subject.clone()),
            organisation: lead.organisation.clone(),
            person_id: a.family.is_none().then_some(a.person),
            family_id: a.family,
            started_at: lead.since,
            ended_at: None,
            service: Some("early help".into()),
            source: "hub".into(),
            category: None,
            contact: None,
        }
    }

    /// Starts an early help assessment with the caller as its lead professional. Refused,
    /// with the reason, when the early help protocol would not let them hold it (no consent,
    /// and no clause that lets the purpose proceed without it). `None` when no person has
    /// the id.
    pub async fn start_assessment(
        &self,
        person: PersonId,
        family: Option<FamilyId>,
        referral: Option<Uuid>,
        needs: String,
    ) -> Result<Option<Gated<AssessmentRead>>, GateError> {
        self.require_purpose()?;
        check_text("needs", &needs)?;
        if self.existing(&[person]).await?.is_empty() {
            return Ok(None);
        }
        if let Some(f) = family {
            let members = crate::store::graph::members(self.inner.store.conn(), &[f]).await?;
            if !members.iter().any(|m| m.person_id == person) {
                return Err(GateError::Invalid(
                    "the child is not a member of that family".into(),
                ));
            }
        }
        let leading = match self.may_lead(person).await? {
            Err(d) => return Ok(Some(Err(d))),
            Ok(d) => d,
        };
        let now = self.inner.now;
        let p = self.principal();
        let lead = Lead {
            subject: p.subject.clone(),
            organisation: p.organisation.clone(),
            since: now,
        };
        let assessment = Assessment {
            id: Uuid::now_v7(),
            person,
            family,
            referral,
            needs,
            started_at: now,
            started_by: p.subject.clone(),
            updated_at: now,
            closed: None,
            lead: Some(lead.clone()),
        };
        let started = self.transition("started", serde_json::json!({ "to": "open" }));
        let led = self.transition(
            "lead_assigned",
            serde_json::json!({ "from": null, "to": lead.subject }),
        );
        let txn = begin_write(self.inner.store.conn()).await?;
        rows::insert_assessment(&txn, &assessment).await?;
        load::involvements(&txn, &[self.lead_involvement(&assessment, &lead)]).await?;
        rows::event(&txn, "assessment", assessment.id, person, &started).await?;
        rows::event(&txn, "assessment", assessment.id, person, &led).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        // What the caller wrote is what they hold now: recorded as a release under the
        // decision that let them lead.
        if let Some(d) = leading {
            let owner = self.inner.gate.practice_owner();
            self.record((person, ASSESSMENT, owner), &d, 1, 0);
        }
        self.act_on_subject("start_assessment", assessment.id, person);
        Ok(Some(Ok(AssessmentRead {
            assessment,
            actions: Vec::new(),
            plan_withheld: None,
            transitions: vec![started, led],
        })))
    }

    /// An open assessment the caller may work on (`early_help.assessment` permitted), or why
    /// not. `None` when no assessment has the id.
    async fn open_assessment(
        &self,
        id: Uuid,
        category: DataCategory,
    ) -> Result<Option<Gated<Assessment>>, GateError> {
        self.require_purpose()?;
        let Some(a) = rows::assessment(self.inner.store.conn(), id).await? else {
            return Ok(None);
        };
        if let Err(d) = self.decide_practice(a.person, category, 1).await? {
            return Ok(Some(Err(d)));
        }
        if a.closed.is_some() {
            return Err(GateError::Invalid(format!("assessment {id} is closed")));
        }
        Ok(Some(Ok(a)))
    }

    /// Reads one assessment back after a change.
    async fn reread(&self, id: Uuid) -> Result<Option<Gated<AssessmentRead>>, GateError> {
        let Some(a) = rows::assessment(self.inner.store.conn(), id).await? else {
            return Ok(None);
        };
        let mut reads = self.assessments_of(&[a.person]).await?;
        Ok(match reads.remove(&a.person) {
            Some(Ok(list)) => list.into_iter().find(|r| r.assessment.id == id).map(Ok),
            Some(Err(d)) => Some(Err(d)),
            None => None,
        })
    }

    /// Replaces an open assessment's needs.
    pub async fn update_assessment(
        &self,
        id: Uuid,
        needs: String,
    ) -> Result<Option<Gated<AssessmentRead>>, GateError> {
        check_text("needs", &needs)?;
        let a = or_return!(self.open_assessment(id, ASSESSMENT).await?);
        let t = self.transition("updated", serde_json::json!({ "field": "needs" }));
        let txn = begin_write(self.inner.store.conn()).await?;
        rows::update_needs(&txn, id, &needs, self.inner.now).await?;
        rows::event(&txn, "assessment", id, a.person, &t).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on_subject("update_assessment", id, a.person);
        self.reread(id).await
    }

    /// Adds an action to an open assessment's plan.
    pub async fn add_plan_action(
        &self,
        id: Uuid,
        action: String,
        owner: String,
        review_on: Option<NaiveDate>,
    ) -> Result<Option<Gated<AssessmentRead>>, GateError> {
        check_text("action", &action)?;
        check_text("owner", &owner)?;
        let a = or_return!(self.open_assessment(id, PLAN).await?);
        let row = PlanAction {
            id: Uuid::now_v7(),
            assessment: id,
            action,
            owner,
            review_on,
            done_at: None,
            created_at: self.inner.now,
        };
        let t = self.transition(
            "action_added",
            serde_json::json!({ "action": row.id.to_string(), "reviewOn": review_on }),
        );
        let txn = begin_write(self.inner.store.conn()).await?;
        rows::insert_action(&txn, &row).await?;
        rows::event(&txn, "assessment", id, a.person, &t).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on_subject("add_plan_action", id, a.person);
        self.reread(id).await
    }

    /// Makes another practitioner the lead professional: one lead at a time, so the previous
    /// lead's involvement ends as the new one's starts, and the change is recorded.
    pub async fn assign_lead_professional(
        &self,
        id: Uuid,
        subject: String,
        organisation: OrganisationId,
    ) -> Result<Option<Gated<AssessmentRead>>, GateError> {
        check_text("subject", &subject)?;
        let a = or_return!(self.open_assessment(id, PLAN).await?);
        if a.lead.as_ref().is_some_and(|l| l.subject == subject) {
            return Err(GateError::Invalid(
                "that practitioner is the lead professional already".into(),
            ));
        }
        let now = self.inner.now;
        let lead = Lead {
            subject,
            organisation,
            since: now,
        };
        let t = self.transition(
            "lead_assigned",
            serde_json::json!({
                "from": a.lead.as_ref().map(|l| l.subject.clone()),
                "to": lead.subject,
            }),
        );
        let txn = begin_write(self.inner.store.conn()).await?;
        if let Some(previous) = &a.lead {
            rows::end_involvements(
                &txn,
                InvolvementKind::LeadProfessional,
                &previous.subject,
                Some(a.person),
                a.family,
                now,
            )
            .await?;
        }
        rows::set_lead(&txn, id, &lead).await?;
        load::involvements(&txn, &[self.lead_involvement(&a, &lead)]).await?;
        rows::event(&txn, "assessment", id, a.person, &t).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on_subject("assign_lead_professional", id, a.person);
        self.reread(id).await
    }

    /// Closes an open assessment with its outcome; the lead professional's involvement ends.
    pub async fn close_assessment(
        &self,
        id: Uuid,
        outcome: AssessmentOutcome,
    ) -> Result<Option<Gated<AssessmentRead>>, GateError> {
        let a = or_return!(self.open_assessment(id, ASSESSMENT).await?);
        let now = self.inner.now;
        let by = self.principal().subject.clone();
        let t = self.transition(
            "closed",
            serde_json::json!({ "from": "open", "to": "closed", "outcome": outcome.as_str() }),
        );
        let txn = begin_write(self.inner.store.conn()).await?;
        rows::close_assessment(&txn, id, outcome, &by, now).await?;
        if let Some(lead) = &a.lead {
            rows::end_involvements(
                &txn,
                InvolvementKind::LeadProfessional,
                &lead.subject,
                Some(a.person),
                a.family,
                now,
            )
            .await?;
        }
        rows::event(&txn, "assessment", id, a.person, &t).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on_subject("close_assessment", id, a.person);
        // Closing ends the caller's own involvement when they led: read back as it was
        // decided before the change, within this request.
        self.reread(id).await
    }

    /// The early help assessments of each person, released as their `early_help.assessment`;
    /// the plan and lead only where `early_help.plan` is shared too.
    pub async fn assessments_of(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Vec<AssessmentRead>>>, GateError> {
        self.require_purpose()?;
        let conn = self.inner.store.conn();
        let rows = rows::assessments_of(conn, ids).await?;
        let owner = self.inner.gate.practice_owner();
        let rows: Vec<(Assessment, OrganisationId)> =
            rows.into_iter().map(|a| (a, owner.clone())).collect();
        let released: HashMap<PersonId, Gated<Vec<Assessment>>> = self
            .release_lists(ids, rows, |(a, _)| a.person, |(_, o)| (ASSESSMENT, o))
            .await?
            .into_iter()
            .map(|(p, r)| (p, r.map(|v| v.into_iter().map(|(a, _)| a).collect())))
            .collect();
        let shown: Vec<Uuid> = released
            .values()
            .filter_map(|r| r.as_ref().ok())
            .flatten()
            .map(|a| a.id)
            .collect();
        let mut actions: HashMap<Uuid, Vec<PlanAction>> = HashMap::new();
        for a in rows::actions_of(conn, &shown).await? {
            actions.entry(a.assessment).or_default().push(a);
        }
        let mut events: HashMap<Uuid, Vec<Transition>> = HashMap::new();
        for (id, t) in rows::events(conn, &shown).await? {
            events.entry(id).or_default().push(t);
        }
        let contexts = self.contexts(ids).await?;
        let mut out = HashMap::new();
        for (person, r) in released {
            let list = match r {
                Err(d) => Err(d),
                Ok(list) => {
                    let plan = match contexts.get(&person) {
                        Some(ctx) => {
                            let d = self.decide(ctx, person, PLAN, &owner);
                            let n: u64 = list
                                .iter()
                                .map(|a| actions.get(&a.id).map_or(0, Vec::len) as u64 + 1)
                                .sum();
                            let key = (person, PLAN, owner.clone());
                            if d.permits() {
                                self.record(key, &d, n, 0);
                                None
                            } else {
                                self.record(key, &d, 0, n);
                                Some(denial(PLAN, &d))
                            }
                        }
                        None => None,
                    };
                    Ok(list
                        .into_iter()
                        .map(|mut a| {
                            if plan.is_some() {
                                a.lead = None;
                            }
                            AssessmentRead {
                                actions: if plan.is_some() {
                                    Vec::new()
                                } else {
                                    actions.remove(&a.id).unwrap_or_default()
                                },
                                plan_withheld: plan.clone(),
                                transitions: events.remove(&a.id).unwrap_or_default(),
                                assessment: a,
                            }
                        })
                        .collect())
                }
            };
            out.insert(person, list);
        }
        Ok(out)
    }
}
