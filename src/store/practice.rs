//! The hub's own practice records: referrals, early help assessments, their plans and leads,
//! and every transition of each (`practice_events`).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::StoreError;
use super::entity::{assessment_actions, assessments, facts, practice_events, referrals};
use crate::model::{FamilyId, PersonId};
use crate::practice::early_help::{Assessment, AssessmentOutcome, Lead, PlanAction, Transition};
use crate::practice::referrals::{
    Concern, Decided, Rag, Referral, ReferralConsent, ReferralDecision, ReferralStatus, Referrer,
    Urgency,
};

fn corrupt(table: &'static str, column: &'static str) -> StoreError {
    StoreError::Corrupt { table, column }
}

/// Records a transition.
pub async fn event(
    conn: &impl ConnectionTrait,
    kind: &str,
    record: Uuid,
    person: PersonId,
    t: &Transition,
) -> Result<(), StoreError> {
    practice_events::Entity::insert(practice_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        record_kind: Set(kind.to_owned()),
        record_id: Set(record),
        person_id: Set(person.0),
        at: Set(t.at),
        actor_subject: Set(t.actor.clone()),
        actor_role: Set(t.role.clone()),
        event: Set(t.event.clone()),
        detail: Set(t.detail.clone()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The transitions of these records, oldest first.
pub async fn events(
    conn: &impl ConnectionTrait,
    records: &[Uuid],
) -> Result<Vec<(Uuid, Transition)>, StoreError> {
    if records.is_empty() {
        return Ok(vec![]);
    }
    let rows = practice_events::Entity::find()
        .filter(practice_events::Column::RecordId.is_in(records.iter().copied()))
        .order_by_asc(practice_events::Column::At)
        .order_by_asc(practice_events::Column::Id)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.record_id,
                Transition {
                    at: r.at,
                    actor: r.actor_subject,
                    role: r.actor_role,
                    event: r.event,
                    detail: r.detail,
                },
            )
        })
        .collect())
}

// --- referrals ---------------------------------------------------------------------------------

/// Stores a new referral.
pub async fn insert_referral(conn: &impl ConnectionTrait, r: &Referral) -> Result<(), StoreError> {
    referrals::Entity::insert(referrals::ActiveModel {
        id: Set(r.id),
        person_id: Set(r.person.0),
        concerns: Set(serde_json::json!(
            r.concerns.iter().map(|c| c.as_str()).collect::<Vec<_>>()
        )),
        what_was_seen: Set(r.what_was_seen.clone()),
        consent_status: Set(r.consent.as_str().to_owned()),
        urgency: Set(r.urgency.as_str().to_owned()),
        referrer_subject: Set(r.referrer.subject.clone()),
        referrer_organisation: Set(r.referrer.organisation.as_str().to_owned()),
        referrer_role: Set(r.referrer.role.clone()),
        submitted_at: Set(r.submitted_at),
        due_at: Set(r.due_at),
        status: Set(r.status().as_str().to_owned()),
        decision: Set(None),
        rag: Set(None),
        reason: Set(None),
        decided_at: Set(None),
        decided_by: Set(None),
        re_referral: Set(r.re_referral),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn referral_from_row(r: referrals::Model) -> Result<Referral, StoreError> {
    let bad = |c| corrupt("referrals", c);
    let concerns = r
        .concerns
        .as_array()
        .ok_or_else(|| bad("concerns"))?
        .iter()
        .map(|c| {
            c.as_str()
                .and_then(Concern::parse)
                .ok_or_else(|| bad("concerns"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let decided = match (r.decision, r.rag, r.decided_at, r.decided_by) {
        (Some(d), Some(rag), Some(at), Some(by)) => Some(Decided {
            decision: ReferralDecision::parse(&d).ok_or_else(|| bad("decision"))?,
            rag: Rag::parse(&rag).ok_or_else(|| bad("rag"))?,
            reason: r.reason.unwrap_or_default(),
            at,
            by,
        }),
        _ => None,
    };
    Ok(Referral {
        id: r.id,
        person: PersonId(r.person_id),
        concerns,
        what_was_seen: r.what_was_seen,
        consent: ReferralConsent::parse(&r.consent_status).ok_or_else(|| bad("consent_status"))?,
        urgency: Urgency::parse(&r.urgency).ok_or_else(|| bad("urgency"))?,
        referrer: Referrer {
            subject: r.referrer_subject,
            organisation: r
                .referrer_organisation
                .parse()
                .map_err(|_| bad("referrer_organisation"))?,
            role: r.referrer_role,
        },
        submitted_at: r.submitted_at,
        due_at: r.due_at,
        decided,
        re_referral: r.re_referral,
    })
}

/// A referral by id.
pub async fn referral(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Referral>, StoreError> {
    referrals::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(referral_from_row)
        .transpose()
}

/// What a queue read asks for.
#[derive(Clone, Copy, Debug)]
pub enum QueueFilter {
    All,
    Status(ReferralStatus),
    /// Undecided and past due at this instant.
    OverdueAt(DateTime<Utc>),
}

/// A page of referrals, oldest first (ids are time-ordered), after `after`.
pub async fn referrals_page(
    conn: &impl ConnectionTrait,
    filter: QueueFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Referral>, StoreError> {
    let mut q = referrals::Entity::find().order_by_asc(referrals::Column::Id);
    match filter {
        QueueFilter::All => {}
        QueueFilter::Status(s) => q = q.filter(referrals::Column::Status.eq(s.as_str())),
        QueueFilter::OverdueAt(now) => {
            q = q
                .filter(referrals::Column::Status.eq(ReferralStatus::Submitted.as_str()))
                .filter(referrals::Column::DueAt.lt(now));
        }
    }
    if let Some(a) = after {
        q = q.filter(referrals::Column::Id.gt(a));
    }
    q.limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(referral_from_row)
        .collect()
}

/// The referrals of persons, oldest first.
pub async fn referrals_of(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<Referral>, StoreError> {
    if persons.is_empty() {
        return Ok(vec![]);
    }
    referrals::Entity::find()
        .filter(referrals::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
        .order_by_asc(referrals::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(referral_from_row)
        .collect()
}

/// When a person was referred before: by the hub's front door, or in the local authority's
/// own records (a social-care `referral` fact).
pub async fn earlier_referrals(
    conn: &impl ConnectionTrait,
    person: PersonId,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let mut at: Vec<DateTime<Utc>> = referrals::Entity::find()
        .select_only()
        .column(referrals::Column::SubmittedAt)
        .filter(referrals::Column::PersonId.eq(person.0))
        .into_tuple()
        .all(conn)
        .await?;
    let from_facts: Vec<DateTime<Utc>> = facts::Entity::find()
        .select_only()
        .column(facts::Column::OccurredAt)
        .filter(facts::Column::PersonId.eq(person.0))
        .filter(facts::Column::Kind.eq("referral"))
        .into_tuple()
        .all(conn)
        .await?;
    at.extend(from_facts);
    Ok(at)
}

/// Records a decision on a referral still waiting for one. False when it was decided already.
pub async fn decide_referral(
    conn: &impl ConnectionTrait,
    id: Uuid,
    d: &Decided,
) -> Result<bool, StoreError> {
    let done = referrals::Entity::update_many()
        .col_expr(
            referrals::Column::Status,
            ReferralStatus::Decided.as_str().into(),
        )
        .col_expr(referrals::Column::Decision, d.decision.as_str().into())
        .col_expr(referrals::Column::Rag, d.rag.as_str().into())
        .col_expr(referrals::Column::Reason, d.reason.clone().into())
        .col_expr(referrals::Column::DecidedAt, d.at.into())
        .col_expr(referrals::Column::DecidedBy, d.by.clone().into())
        .filter(referrals::Column::Id.eq(id))
        .filter(referrals::Column::Status.eq(ReferralStatus::Submitted.as_str()))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

// --- early help ----------------------------------------------------------------------------------

/// Stores a new assessment.
pub async fn insert_assessment(
    conn: &impl ConnectionTrait,
    a: &Assessment,
) -> Result<(), StoreError> {
    assessments::Entity::insert(assessments::ActiveModel {
        id: Set(a.id),
        person_id: Set(a.person.0),
        family_id: Set(a.family.map(|f| f.0)),
        referral_id: Set(a.referral),
        status: Set(if a.closed.is_some() { "closed" } else { "open" }.to_owned()),
        needs: Set(a.needs.clone()),
        started_at: Set(a.started_at),
        started_by: Set(a.started_by.clone()),
        updated_at: Set(a.updated_at),
        outcome: Set(None),
        closed_at: Set(None),
        closed_by: Set(None),
        lead_subject: Set(a.lead.as_ref().map(|l| l.subject.clone())),
        lead_organisation: Set(a.lead.as_ref().map(|l| l.organisation.as_str().to_owned())),
        lead_since: Set(a.lead.as_ref().map(|l| l.since)),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn assessment_from_row(r: assessments::Model) -> Result<Assessment, StoreError> {
    let bad = |c| corrupt("assessments", c);
    let closed = match (r.outcome, r.closed_at, r.closed_by) {
        (Some(o), Some(at), Some(by)) => Some((
            AssessmentOutcome::parse(&o).ok_or_else(|| bad("outcome"))?,
            at,
            by,
        )),
        _ => None,
    };
    let lead = match (r.lead_subject, r.lead_organisation, r.lead_since) {
        (Some(subject), Some(org), Some(since)) => Some(Lead {
            subject,
            organisation: org.parse().map_err(|_| bad("lead_organisation"))?,
            since,
        }),
        _ => None,
    };
    Ok(Assessment {
        id: r.id,
        person: PersonId(r.person_id),
        family: r.family_id.map(FamilyId),
        referral: r.referral_id,
        needs: r.needs,
        started_at: r.started_at,
        started_by: r.started_by,
        updated_at: r.updated_at,
        closed,
        lead,
    })
}

/// An assessment by id.
pub async fn assessment(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Assessment>, StoreError> {
    assessments::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(assessment_from_row)
        .transpose()
}

/// The assessments of persons, oldest first.
pub async fn assessments_of(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<Assessment>, StoreError> {
    if persons.is_empty() {
        return Ok(vec![]);
    }
    assessments::Entity::find()
        .filter(assessments::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
        .order_by_asc(assessments::Column::StartedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(assessment_from_row)
        .collect()
}

/// Replaces an open assessment's needs. False when it is closed or unknown.
pub async fn update_needs(
    conn: &impl ConnectionTrait,
    id: Uuid,
    needs: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = assessments::Entity::update_many()
        .col_expr(assessments::Column::Needs, needs.to_owned().into())
        .col_expr(assessments::Column::UpdatedAt, now.into())
        .filter(assessments::Column::Id.eq(id))
        .filter(assessments::Column::Status.eq("open"))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Makes `lead` the lead professional of an open assessment.
pub async fn set_lead(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lead: &Lead,
) -> Result<bool, StoreError> {
    let done = assessments::Entity::update_many()
        .col_expr(
            assessments::Column::LeadSubject,
            lead.subject.clone().into(),
        )
        .col_expr(
            assessments::Column::LeadOrganisation,
            lead.organisation.as_str().to_owned().into(),
        )
        .col_expr(assessments::Column::LeadSince, lead.since.into())
        .col_expr(assessments::Column::UpdatedAt, lead.since.into())
        .filter(assessments::Column::Id.eq(id))
        .filter(assessments::Column::Status.eq("open"))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Closes an open assessment with an outcome.
pub async fn close_assessment(
    conn: &impl ConnectionTrait,
    id: Uuid,
    outcome: AssessmentOutcome,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = assessments::Entity::update_many()
        .col_expr(assessments::Column::Status, "closed".into())
        .col_expr(assessments::Column::Outcome, outcome.as_str().into())
        .col_expr(assessments::Column::ClosedAt, now.into())
        .col_expr(assessments::Column::ClosedBy, by.to_owned().into())
        .col_expr(assessments::Column::UpdatedAt, now.into())
        .filter(assessments::Column::Id.eq(id))
        .filter(assessments::Column::Status.eq("open"))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Adds an action to a plan.
pub async fn insert_action(conn: &impl ConnectionTrait, a: &PlanAction) -> Result<(), StoreError> {
    assessment_actions::Entity::insert(assessment_actions::ActiveModel {
        id: Set(a.id),
        assessment_id: Set(a.assessment),
        action: Set(a.action.clone()),
        owner: Set(a.owner.clone()),
        review_on: Set(a.review_on),
        done_at: Set(a.done_at),
        created_at: Set(a.created_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The actions of these assessments' plans, oldest first.
pub async fn actions_of(
    conn: &impl ConnectionTrait,
    assessments: &[Uuid],
) -> Result<Vec<PlanAction>, StoreError> {
    if assessments.is_empty() {
        return Ok(vec![]);
    }
    Ok(assessment_actions::Entity::find()
        .filter(assessment_actions::Column::AssessmentId.is_in(assessments.iter().copied()))
        .order_by_asc(assessment_actions::Column::CreatedAt)
        .order_by_asc(assessment_actions::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| PlanAction {
            id: r.id,
            assessment: r.assessment_id,
            action: r.action,
            owner: r.owner,
            review_on: r.review_on,
            done_at: r.done_at,
            created_at: r.created_at,
        })
        .collect())
}

/// Ends the open involvements of `kind` a principal holds with a person or family, at `at`.
/// Returns how many it ended.
pub async fn end_involvements(
    conn: &impl ConnectionTrait,
    kind: crate::model::InvolvementKind,
    subject: &str,
    person: Option<PersonId>,
    family: Option<FamilyId>,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    use super::entity::involvements as inv;
    let mut q = inv::Entity::update_many()
        .col_expr(inv::Column::EndedAt, Some(at).into())
        .filter(inv::Column::Kind.eq(kind.as_str()))
        .filter(inv::Column::PrincipalSubject.eq(subject))
        .filter(inv::Column::EndedAt.is_null());
    q = match (person, family) {
        (_, Some(f)) => q.filter(inv::Column::FamilyId.eq(f.0)),
        (Some(p), None) => q.filter(inv::Column::PersonId.eq(p.0)),
        (None, None) => return Ok(0),
    };
    Ok(q.exec(conn).await?.rows_affected)
}

/// Ends the MASH enquiry a referral opened.
pub async fn end_enquiry(
    conn: &impl ConnectionTrait,
    referral: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    use super::entity::involvements as inv;
    inv::Entity::update_many()
        .col_expr(inv::Column::EndedAt, Some(at).into())
        .filter(inv::Column::Source.eq(format!("referral:{referral}")))
        .filter(inv::Column::EndedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

// --- shield orders ---------------------------------------------------------------------------------

/// The roles each shielded person's shield order names; persons without an order are left
/// out (a shield a source flagged withholds contact details and relationships only).
pub async fn shield_roles(
    conn: &impl ConnectionTrait,
    persons: &[PersonId],
) -> Result<Vec<(PersonId, Vec<crate::model::Role>)>, StoreError> {
    use super::entity::shields;
    if persons.is_empty() {
        return Ok(vec![]);
    }
    let rows = shields::Entity::find()
        .filter(shields::Column::PersonId.is_in(persons.iter().map(|p| p.0)))
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            let roles = r
                .roles
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    v.as_str()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| corrupt("shields", "roles"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((PersonId(r.person_id), roles))
        })
        .collect()
}

/// Records a shield order (replacing any earlier one) and marks the person shielded.
pub async fn shield(
    conn: &impl ConnectionTrait,
    person: PersonId,
    reason: &str,
    roles: &[crate::model::Role],
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    use super::entity::{persons, shields};
    let earlier = shields::Entity::find_by_id(person.0).one(conn).await?;
    let was_shielded = match earlier {
        Some(order) => order.was_shielded,
        None => persons::Entity::find_by_id(person.0)
            .one(conn)
            .await?
            .is_some_and(|p| p.shielded),
    };
    shields::Entity::delete_by_id(person.0).exec(conn).await?;
    shields::Entity::insert(shields::ActiveModel {
        person_id: Set(person.0),
        reason: Set(reason.to_owned()),
        roles: Set(serde_json::json!(
            roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()
        )),
        recorded_by: Set(by.to_owned()),
        recorded_at: Set(at),
        was_shielded: Set(was_shielded),
    })
    .exec_without_returning(conn)
    .await?;
    persons::Entity::update_many()
        .col_expr(persons::Column::Shielded, true.into())
        .filter(persons::Column::Id.eq(person.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Lifts a shield order; the person stays shielded only if a source had flagged them before
/// it. False when there was no order.
pub async fn lift_shield(
    conn: &impl ConnectionTrait,
    person: PersonId,
) -> Result<bool, StoreError> {
    use super::entity::{persons, shields};
    let Some(order) = shields::Entity::find_by_id(person.0).one(conn).await? else {
        return Ok(false);
    };
    shields::Entity::delete_by_id(person.0).exec(conn).await?;
    persons::Entity::update_many()
        .col_expr(persons::Column::Shielded, order.was_shielded.into())
        .filter(persons::Column::Id.eq(person.0))
        .exec(conn)
        .await?;
    Ok(true)
}

/// An involvement by id.
pub async fn involvement(
    conn: &impl ConnectionTrait,
    id: crate::model::InvolvementId,
) -> Result<Option<crate::model::Involvement>, StoreError> {
    use super::entity::involvements as inv;
    inv::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .map(super::graph::involvement_from_row)
        .transpose()
}

/// Ends an open involvement at `at`.
pub async fn end_involvement(
    conn: &impl ConnectionTrait,
    id: crate::model::InvolvementId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    use super::entity::involvements as inv;
    inv::Entity::update_many()
        .col_expr(inv::Column::EndedAt, Some(at).into())
        .filter(inv::Column::Id.eq(id.0))
        .filter(inv::Column::EndedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Carries the shield order of person `from` to person `into` (a merge). When both hold an
/// order, the merged person keeps the later one, naming only the roles both orders allowed
/// (where any role is in both): joining two records must never widen who may see either of
/// them. A person a source flagged shielded stays so, and stays so when the order is lifted.
pub async fn merge_shields(
    conn: &impl ConnectionTrait,
    from: PersonId,
    into: PersonId,
) -> Result<(), StoreError> {
    use super::entity::{persons, shields};
    let both = [from.0, into.0];
    let people = persons::Entity::find()
        .filter(persons::Column::Id.is_in(both))
        .all(conn)
        .await?;
    let orders = shields::Entity::find()
        .filter(shields::Column::PersonId.is_in(both))
        .all(conn)
        .await?;
    // What a source flagged, apart from any order: a person's own flag, or, under an order
    // (which sets the flag), what the order kept of it to restore when lifted.
    let flagged = people.iter().any(|p| {
        orders
            .iter()
            .find(|o| o.person_id == p.id)
            .map_or(p.shielded, |o| o.was_shielded)
    });
    let kept = match orders.as_slice() {
        [] => None,
        [only] => Some(only.clone()),
        [a, b] => {
            let (earlier, later) = if a.recorded_at <= b.recorded_at {
                (a, b)
            } else {
                (b, a)
            };
            let allowed = |o: &shields::Model| -> Vec<serde_json::Value> {
                o.roles.as_array().cloned().unwrap_or_default()
            };
            let common: Vec<serde_json::Value> = allowed(later)
                .into_iter()
                .filter(|r| allowed(earlier).contains(r))
                .collect();
            let mut kept = later.clone();
            if !common.is_empty() {
                kept.roles = serde_json::Value::Array(common);
            }
            Some(kept)
        }
        _ => return Err(corrupt("shields", "person_id")),
    };
    if let Some(order) = &kept {
        shields::Entity::delete_many()
            .filter(shields::Column::PersonId.is_in(both))
            .exec(conn)
            .await?;
        shields::Entity::insert(shields::ActiveModel {
            person_id: Set(into.0),
            reason: Set(order.reason.clone()),
            roles: Set(order.roles.clone()),
            recorded_by: Set(order.recorded_by.clone()),
            recorded_at: Set(order.recorded_at),
            was_shielded: Set(flagged),
        })
        .exec_without_returning(conn)
        .await?;
    }
    if flagged || kept.is_some() {
        persons::Entity::update_many()
            .col_expr(persons::Column::Shielded, true.into())
            .filter(persons::Column::Id.eq(into.0))
            .exec(conn)
            .await?;
    }
    Ok(())
}
