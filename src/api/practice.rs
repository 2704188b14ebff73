//! The single front door and early help: `submitReferral`, the MASH queue `referrals`,
//! `decideReferral`, `person.referrals`; `startAssessment`, `updateAssessment`,
//! `addPlanAction`, `assignLeadProfessional`, `closeAssessment`, `person.assessments`.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::errors::{bad_input, denied, gate_failed, parse_id};
use super::person::{Person, gate};
use crate::gate::Gated;
use crate::gate::practice::{AssessmentRead, NewReferral, ReferralRead};
use crate::model::{FamilyId, OrganisationId, PersonId};
use crate::practice::early_help;
use crate::practice::referrals;
use crate::store::practice::QueueFilter;

/// The most referrals one page of the queue returns.
const MAX_QUEUE_PAGE: i32 = 200;

/// Declares a GraphQL enum mirroring a practice vocabulary.
macro_rules! mirror {
    ($(#[$m:meta])* $name:ident => $remote:literal { $($v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Eq, PartialEq)]
        #[graphql(remote = $remote)]
        pub enum $name { $($v),+ }
    };
}

mirror! {
    /// What the referrer is worried about.
    Concern => "crate::practice::referrals::Concern" {
        Neglect, PhysicalAbuse, EmotionalAbuse, SexualAbuse, DomesticAbuse, Exploitation,
        Missing, MentalHealth, SubstanceMisuse, ParentalCapacity, Other,
    }
}
mirror! {
    /// How soon the referrer thinks the front door must act.
    Urgency => "crate::practice::referrals::Urgency" { Immediate, Urgent, Routine }
}
mirror! {
    /// The family's consent to the referral: given, refused, or not sought because seeking
    /// it would place the child at risk.
    ReferralConsent => "crate::practice::referrals::ReferralConsent" { Given, Refused, NotSought }
}
mirror! {
    /// The front door's decision.
    ReferralDecision => "crate::practice::referrals::ReferralDecision" {
        NoFurtherAction, EarlyHelp, ChildInNeedAssessment, StrategyDiscussion,
    }
}
mirror! {
    /// Red, amber or green.
    Rag => "crate::practice::referrals::Rag" { Red, Amber, Green }
}
mirror! {
    /// Where a referral is.
    ReferralStatus => "crate::practice::referrals::ReferralStatus" { Submitted, Decided }
}
mirror! {
    /// How an early help episode ended.
    AssessmentOutcome => "crate::practice::early_help::AssessmentOutcome" {
        NeedsMet, SteppedUpToSocialCare, SteppedDown, Disengaged,
    }
}

/// Which referrals the queue shows.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum QueueStatus {
    /// Waiting for a decision.
    Submitted,
    Decided,
    /// Waiting for a decision past the decision window.
    Overdue,
    All,
}

/// A transition of a referral or an assessment.
#[derive(SimpleObject)]
pub struct Transition {
    pub at: DateTime<Utc>,
    /// The practitioner (token subject).
    pub actor: String,
    pub role: String,
    pub event: String,
    pub detail: async_graphql::Json<serde_json::Value>,
}

fn transitions(list: &[early_help::Transition]) -> Vec<Transition> {
    list.iter()
        .map(|t| Transition {
            at: t.at,
            actor: t.actor.clone(),
            role: t.role.clone(),
            event: t.event.clone(),
            detail: async_graphql::Json(t.detail.clone()),
        })
        .collect()
}

/// A referral to the front door.
pub struct Referral(ReferralRead);

#[Object]
impl Referral {
    async fn id(&self) -> ID {
        ID(self.0.referral.id.to_string())
    }
    /// The child; their own data is gated when read.
    async fn child(&self) -> Person {
        Person(self.0.referral.person)
    }
    async fn concerns(&self) -> Vec<Concern> {
        self.0
            .referral
            .concerns
            .iter()
            .map(|c| (*c).into())
            .collect()
    }
    async fn what_was_seen(&self) -> &str {
        &self.0.referral.what_was_seen
    }
    async fn consent(&self) -> ReferralConsent {
        self.0.referral.consent.into()
    }
    async fn urgency(&self) -> Urgency {
        self.0.referral.urgency.into()
    }
    /// The referrer (token subject), their organisation and role.
    async fn referrer(&self) -> &str {
        &self.0.referral.referrer.subject
    }
    async fn referrer_organisation(&self) -> &str {
        self.0.referral.referrer.organisation.as_str()
    }
    async fn referrer_role(&self) -> &str {
        &self.0.referral.referrer.role
    }
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.referral.submitted_at
    }
    /// When a decision is due.
    async fn due_at(&self) -> DateTime<Utc> {
        self.0.referral.due_at
    }
    async fn status(&self) -> ReferralStatus {
        self.0.referral.status().into()
    }
    /// Waiting for a decision past the decision window.
    async fn overdue(&self) -> bool {
        self.0.referral.overdue(Utc::now())
    }
    /// Decided after the decision window.
    async fn decided_late(&self) -> bool {
        self.0.referral.decided_late()
    }
    /// The child was referred before within twelve months.
    async fn re_referral(&self) -> bool {
        self.0.referral.re_referral
    }
    async fn decision(&self) -> Option<ReferralDecision> {
        self.0.referral.decided.as_ref().map(|d| d.decision.into())
    }
    async fn rag(&self) -> Option<Rag> {
        self.0.referral.decided.as_ref().map(|d| d.rag.into())
    }
    async fn reason(&self) -> Option<&str> {
        self.0.referral.decided.as_ref().map(|d| d.reason.as_str())
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.referral.decided.as_ref().map(|d| d.at)
    }
    async fn decided_by(&self) -> Option<&str> {
        self.0.referral.decided.as_ref().map(|d| d.by.as_str())
    }
    /// Every transition, oldest first.
    async fn transitions(&self) -> Vec<Transition> {
        transitions(&self.0.transitions)
    }
}

/// A page of the queue.
#[derive(SimpleObject)]
pub struct ReferralPage {
    pub referrals: Vec<Referral>,
    /// Referrals in the page the caller may not see.
    pub withheld: u64,
    pub has_next: bool,
    pub end_cursor: Option<ID>,
}

/// What a referrer sends.
#[derive(InputObject)]
pub struct ReferralInput {
    pub child: ID,
    pub concerns: Vec<Concern>,
    pub what_was_seen: String,
    pub consent: ReferralConsent,
    pub urgency: Urgency,
}

/// The lead professional.
#[derive(SimpleObject)]
pub struct LeadProfessional {
    pub practitioner: String,
    /// `<kind>:<code>`.
    pub organisation: String,
    pub since: DateTime<Utc>,
}

/// An action of an early help plan.
#[derive(SimpleObject)]
pub struct PlanAction {
    pub id: ID,
    pub action: String,
    pub owner: String,
    pub review_on: Option<NaiveDate>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An early help assessment.
pub struct Assessment(AssessmentRead);

#[Object]
impl Assessment {
    async fn id(&self) -> ID {
        ID(self.0.assessment.id.to_string())
    }
    async fn child(&self) -> Person {
        Person(self.0.assessment.person)
    }
    async fn family(&self) -> Option<super::family::Family> {
        self.0.assessment.family.map(super::family::Family)
    }
    async fn referral_id(&self) -> Option<ID> {
        self.0.assessment.referral.map(|r| ID(r.to_string()))
    }
    async fn open(&self) -> bool {
        self.0.assessment.closed.is_none()
    }
    async fn needs(&self) -> &str {
        &self.0.assessment.needs
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.assessment.started_at
    }
    async fn started_by(&self) -> &str {
        &self.0.assessment.started_by
    }
    async fn outcome(&self) -> Option<AssessmentOutcome> {
        self.0.assessment.closed.as_ref().map(|c| c.0.into())
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.assessment.closed.as_ref().map(|c| c.1)
    }
    /// Null when `early_help.plan` is withheld (see `planWithheldReason`).
    async fn lead_professional(&self) -> Option<LeadProfessional> {
        self.0.assessment.lead.as_ref().map(|l| LeadProfessional {
            practitioner: l.subject.clone(),
            organisation: l.organisation.as_str().to_owned(),
            since: l.since,
        })
    }
    async fn actions(&self) -> Vec<PlanAction> {
        self.0
            .actions
            .iter()
            .map(|a| PlanAction {
                id: ID(a.id.to_string()),
                action: a.action.clone(),
                owner: a.owner.clone(),
                review_on: a.review_on,
                done_at: a.done_at,
                created_at: a.created_at,
            })
            .collect()
    }
    /// Why the plan and lead professional were withheld, if they were.
    async fn plan_withheld_reason(&self) -> Option<String> {
        self.0.plan_withheld.as_ref().map(ToString::to_string)
    }
    /// Every transition, oldest first: started, updated, actions added, each lead assigned
    /// (from whom to whom), closed.
    async fn transitions(&self) -> Vec<Transition> {
        transitions(&self.0.transitions)
    }
}

fn person_id(id: &ID) -> Result<PersonId> {
    parse_id::<uuid::Uuid>(id, "person").map(PersonId)
}

/// A mutation's answer: unknown id → null; refusal → `ISP_DENIED` with the reason.
fn answer<T, U>(
    ctx: &Context<'_>,
    r: std::result::Result<Option<Gated<T>>, crate::gate::GateError>,
    wrap: impl FnOnce(T) -> U,
) -> Result<Option<U>> {
    match r.map_err(|e| gate_failed(ctx, &e))? {
        None => Ok(None),
        Some(Err(d)) => Err(denied(&d)),
        Some(Ok(v)) => Ok(Some(wrap(v))),
    }
}

#[derive(Default)]
pub struct PracticeQuery;

#[Object]
impl PracticeQuery {
    /// The front door's queue, oldest first, for the `[practice] front_door_roles`; each
    /// referral released as its child's `social_care.contact_referral`.
    async fn referrals(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "QueueStatus::Submitted")] status: QueueStatus,
        #[graphql(default = 50)] first: i32,
        after: Option<ID>,
    ) -> Result<ReferralPage> {
        if !(1..=MAX_QUEUE_PAGE).contains(&first) {
            return Err(bad_input(format!(
                "`first` must be between 1 and {MAX_QUEUE_PAGE}"
            )));
        }
        let after = after
            .as_ref()
            .map(|a| parse_id::<uuid::Uuid>(a, "referral"))
            .transpose()?;
        let filter = match status {
            QueueStatus::Submitted => QueueFilter::Status(referrals::ReferralStatus::Submitted),
            QueueStatus::Decided => QueueFilter::Status(referrals::ReferralStatus::Decided),
            QueueStatus::Overdue => QueueFilter::OverdueAt(Utc::now()),
            QueueStatus::All => QueueFilter::All,
        };
        let page = gate(ctx)?
            .referral_queue(filter, first as usize, after)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(ReferralPage {
            end_cursor: page.last.map(|l| ID(l.to_string())),
            has_next: page.has_next,
            withheld: page.withheld,
            referrals: page.referrals.into_iter().map(Referral).collect(),
        })
    }
}

#[derive(Default)]
pub struct PracticeMutation;

#[Object]
impl PracticeMutation {
    /// Sends a concern about a child to the front door, from any partner's practitioner.
    /// Due for a decision within `[practice] referral_decision_hours`; marked a re-referral
    /// when the child was referred within the last twelve months. Null for an unknown child.
    async fn submit_referral(
        &self,
        ctx: &Context<'_>,
        input: ReferralInput,
    ) -> Result<Option<Referral>> {
        let new = NewReferral {
            person: person_id(&input.child)?,
            concerns: input.concerns.into_iter().map(Into::into).collect(),
            what_was_seen: input.what_was_seen,
            consent: input.consent.into(),
            urgency: input.urgency.into(),
        };
        let r = gate(ctx)?
            .submit_referral(new)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(r.map(|referral| {
            Referral(ReferralRead {
                referral,
                transitions: Vec::new(),
            })
        }))
    }

    /// Decides a referral waiting at the front door, with a RAG rating and the reason.
    async fn decide_referral(
        &self,
        ctx: &Context<'_>,
        id: ID,
        decision: ReferralDecision,
        rag: Rag,
        reason: String,
    ) -> Result<Option<Referral>> {
        let id = parse_id::<uuid::Uuid>(&id, "referral")?;
        let r = gate(ctx)?
            .decide_referral(id, decision.into(), rag.into(), reason)
            .await;
        answer(ctx, r, Referral)
    }

    /// Starts an early help assessment of a child (and their family) with the caller as lead
    /// professional. Refused with the reason unless the early help protocol lets the caller
    /// hold it (the family's consent, or a clause that lets the purpose proceed without).
    async fn start_assessment(
        &self,
        ctx: &Context<'_>,
        child: ID,
        family: Option<ID>,
        referral: Option<ID>,
        needs: String,
    ) -> Result<Option<Assessment>> {
        let person = person_id(&child)?;
        let family = family
            .as_ref()
            .map(|f| parse_id::<uuid::Uuid>(f, "family").map(FamilyId))
            .transpose()?;
        let referral = referral
            .as_ref()
            .map(|r| parse_id::<uuid::Uuid>(r, "referral"))
            .transpose()?;
        let r = gate(ctx)?
            .start_assessment(person, family, referral, needs)
            .await;
        answer(ctx, r, Assessment)
    }

    /// Replaces an open assessment's needs.
    async fn update_assessment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        needs: String,
    ) -> Result<Option<Assessment>> {
        let id = parse_id::<uuid::Uuid>(&id, "assessment")?;
        let r = gate(ctx)?.update_assessment(id, needs).await;
        answer(ctx, r, Assessment)
    }

    /// Adds an action to an open assessment's plan.
    async fn add_plan_action(
        &self,
        ctx: &Context<'_>,
        assessment: ID,
        action: String,
        owner: String,
        review_on: Option<NaiveDate>,
    ) -> Result<Option<Assessment>> {
        let id = parse_id::<uuid::Uuid>(&assessment, "assessment")?;
        let r = gate(ctx)?
            .add_plan_action(id, action, owner, review_on)
            .await;
        answer(ctx, r, Assessment)
    }

    /// Makes another practitioner the lead professional; the previous lead's involvement
    /// ends and the change is recorded.
    async fn assign_lead_professional(
        &self,
        ctx: &Context<'_>,
        assessment: ID,
        practitioner: String,
        organisation: String,
    ) -> Result<Option<Assessment>> {
        let id = parse_id::<uuid::Uuid>(&assessment, "assessment")?;
        let organisation: OrganisationId = organisation
            .parse()
            .map_err(|_| bad_input("`organisation` is not `<kind>:<code>`"))?;
        let r = gate(ctx)?
            .assign_lead_professional(id, practitioner, organisation)
            .await;
        answer(ctx, r, Assessment)
    }

    /// Closes an open assessment with its outcome.
    async fn close_assessment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outcome: AssessmentOutcome,
    ) -> Result<Option<Assessment>> {
        let id = parse_id::<uuid::Uuid>(&id, "assessment")?;
        let r = gate(ctx)?.close_assessment(id, outcome.into()).await;
        answer(ctx, r, Assessment)
    }
}

/// `person.referrals`.
pub async fn person_referrals(ctx: &Context<'_>, id: PersonId) -> Result<Option<Vec<Referral>>> {
    let mut r = gate(ctx)?
        .referrals_of(&[id])
        .await
        .map_err(|e| gate_failed(ctx, &e))?;
    match r.remove(&id) {
        None => Ok(None),
        Some(Err(d)) => Err(denied(&d)),
        Some(Ok(list)) => Ok(Some(list.into_iter().map(Referral).collect())),
    }
}

/// `person.assessments`.
pub async fn person_assessments(
    ctx: &Context<'_>,
    id: PersonId,
) -> Result<Option<Vec<Assessment>>> {
    let mut r = gate(ctx)?
        .assessments_of(&[id])
        .await
        .map_err(|e| gate_failed(ctx, &e))?;
    match r.remove(&id) {
        None => Ok(None),
        Some(Err(d)) => Err(denied(&d)),
        Some(Ok(list)) => Ok(Some(list.into_iter().map(Assessment).collect())),
    }
}

/// A service whose involvements take their own category.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SensitiveService {
    /// CAMHS and other mental health services (`health.mental_health`).
    MentalHealth,
    /// `health.sexual_health`.
    SexualHealth,
    /// Drug and alcohol services (`health.substance_misuse`).
    SubstanceMisuse,
}

impl From<SensitiveService> for crate::gate::team::SensitiveService {
    fn from(s: SensitiveService) -> Self {
        match s {
            SensitiveService::MentalHealth => Self::MentalHealth,
            SensitiveService::SexualHealth => Self::SexualHealth,
            SensitiveService::SubstanceMisuse => Self::SubstanceMisuse,
        }
    }
}

/// An involvement to record.
#[derive(InputObject)]
pub struct InvolvementInput {
    /// The child (or adult); give this or `family`.
    pub person: Option<ID>,
    pub family: Option<ID>,
    pub kind: super::person::InvolvementKind,
    /// The practitioner (token subject); null for the whole organisation.
    pub held_by: Option<String>,
    /// `<kind>:<code>`; the caller's own organisation when null.
    pub organisation: Option<String>,
    pub service: String,
    /// Set for CAMHS, sexual health or substance misuse: the involvement is then governed as
    /// that service's category.
    pub sensitive: Option<SensitiveService>,
    /// How to reach the practitioner or team (a work phone or inbox).
    pub contact: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

/// Why a record is shielded.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ShieldReason {
    Adoption,
    Refuge,
    WitnessProtection,
}

#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Records a practitioner's or service's involvement with a child or family, from inside
    /// the team: the caller must be allowed to read the child's involvements already.
    async fn record_involvement(
        &self,
        ctx: &Context<'_>,
        input: InvolvementInput,
    ) -> Result<Option<super::person::Involvement>> {
        let gate = gate(ctx)?;
        let organisation = match input.organisation {
            Some(o) => o
                .parse()
                .map_err(|_| bad_input("`organisation` is not `<kind>:<code>`"))?,
            None => gate.principal().organisation.clone(),
        };
        let new = crate::gate::team::NewInvolvement {
            person: input.person.as_ref().map(person_id).transpose()?,
            family: input
                .family
                .as_ref()
                .map(|f| parse_id::<uuid::Uuid>(f, "family").map(FamilyId))
                .transpose()?,
            kind: input.kind.into(),
            holder: input.held_by,
            organisation,
            service: input.service,
            sensitive: input.sensitive.map(Into::into),
            contact: input.contact,
            started_at: input.started_at,
        };
        let r = gate.record_involvement(new).await;
        answer(ctx, r, super::person::Involvement)
    }

    /// Ends an involvement now (same rule as recording one).
    async fn end_involvement(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<super::person::Involvement>> {
        let id = parse_id::<uuid::Uuid>(&id, "involvement")?;
        let r = gate(ctx)?
            .end_involvement(crate::model::InvolvementId(id))
            .await;
        answer(ctx, r, super::person::Involvement)
    }

    /// Shields a record (adoption, a refuge address, a witness protection order): only the
    /// roles named see anything of the person from now on, their addresses never leave the
    /// hub, and every read of them is flagged for the board. For `[practice] shield_roles`
    /// with need-to-know of the person. True when recorded; null for an unknown person.
    async fn shield_record(
        &self,
        ctx: &Context<'_>,
        person: ID,
        reason: ShieldReason,
        roles: Vec<String>,
    ) -> Result<Option<bool>> {
        let person = person_id(&person)?;
        let roles = roles
            .iter()
            .map(|r| {
                r.parse::<crate::model::Role>()
                    .map_err(|_| bad_input(format!("`{r}` is not a role")))
            })
            .collect::<Result<Vec<_>>>()?;
        let reason = match reason {
            ShieldReason::Adoption => crate::gate::team::ShieldReason::Adoption,
            ShieldReason::Refuge => crate::gate::team::ShieldReason::Refuge,
            ShieldReason::WitnessProtection => crate::gate::team::ShieldReason::WitnessProtection,
        };
        let r = gate(ctx)?.shield_record(person, reason, roles).await;
        answer(ctx, r, |()| true)
    }

    /// Lifts a shield order. False when the person had none.
    async fn lift_shield(&self, ctx: &Context<'_>, person: ID) -> Result<bool> {
        let person = person_id(&person)?;
        match gate(ctx)?
            .lift_shield(person)
            .await
            .map_err(|e| gate_failed(ctx, &e))?
        {
            Ok(lifted) => Ok(lifted),
            Err(d) => Err(denied(&d)),
        }
    }
}
