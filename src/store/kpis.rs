//! What the partnership indicators are computed from: the few columns of the rows in a period
//! (when each referral was submitted, due and decided; when each plan started), never a name,
//! an address or a payload beyond an attendance figure. Counting and suppression are done by
//! `practice::kpis`; the gate decides which holders' data may be counted at all.
//!
//! Each read is one statement bounded by the period (indexes on the time columns: see
//! migration `m20261126_000030_kpis`), so its cost follows the period's activity, not the
//! population's size. The area is a postcode district matched against current addresses in
//! an uncorrelated subquery that both backends evaluate once.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::StoreError;
use super::entity::{addresses, assessments, facts, persons, referrals};
use crate::model::{AgencyKind, PersonId};

/// Which rows a KPI read counts: a period, an optional area and the time of the read.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The first instant counted.
    pub start: DateTime<Utc>,
    /// The first instant not counted.
    pub end: DateTime<Utc>,
    /// A postcode district (outward code, upper case, e.g. `AN1`): persons with a current
    /// address in it who are not shielded. `None`: the whole authority.
    pub area: Option<String>,
    /// Addresses ending before this day are not current.
    pub today: NaiveDate,
}

/// Persons the area holds: a current address in the district, and not shielded (a shielded
/// child's whereabouts must not shape a local figure). `None` for the whole authority.
fn area_persons(scope: &Scope) -> Option<(SelectStatement, SelectStatement)> {
    let area = scope.area.as_ref()?;
    let mut at_address = Query::select();
    at_address
        .column(addresses::Column::PersonId)
        .from(addresses::Entity)
        // The normalised postcode has no space: the district, then the three-character
        // inward code.
        .and_where(Expr::col(addresses::Column::PostcodeNorm).like(format!("{area}___")))
        .cond_where(
            Condition::any()
                .add(addresses::Column::ValidTo.is_null())
                .add(addresses::Column::ValidTo.gte(scope.today)),
        );
    let mut shielded = Query::select();
    shielded
        .column(persons::Column::Id)
        .from(persons::Entity)
        .and_where(Expr::col(persons::Column::Shielded).eq(true));
    Some((at_address, shielded))
}

fn in_area<C: ColumnTrait>(person: C, scope: &Scope) -> Condition {
    match area_persons(scope) {
        None => Condition::all(),
        Some((at_address, shielded)) => Condition::all()
            .add(person.in_subquery(at_address))
            .add(person.not_in_subquery(shielded)),
    }
}

/// Facts held by organisations of these kinds (an organisation id is `kind:code`).
fn held_by(kinds: &[AgencyKind]) -> Condition {
    kinds.iter().fold(Condition::any(), |c, k| {
        c.add(facts::Column::OrganisationId.like(format!("{}:%", k.as_str())))
    })
}

/// How many children the area holds.
pub async fn children(conn: &impl ConnectionTrait, scope: &Scope) -> Result<u64, StoreError> {
    let n: Option<i64> = persons::Entity::find()
        .select_only()
        .column_as(Expr::col(persons::Column::Id).count(), "n")
        .filter(persons::Column::IsChild.eq(true))
        .filter(in_area(persons::Column::Id, scope))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
}

/// A referral submitted in the period, as the KPIs see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferralRow {
    pub submitted_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub re_referral: bool,
}

/// Referrals submitted in the period.
pub async fn referrals(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<Vec<ReferralRow>, StoreError> {
    type Row = (DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>, bool);
    let rows: Vec<Row> = referrals::Entity::find()
        .select_only()
        .columns([
            referrals::Column::SubmittedAt,
            referrals::Column::DueAt,
            referrals::Column::DecidedAt,
            referrals::Column::ReReferral,
        ])
        .filter(referrals::Column::SubmittedAt.gte(scope.start))
        .filter(referrals::Column::SubmittedAt.lt(scope.end))
        .filter(in_area(referrals::Column::PersonId, scope))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(submitted_at, due_at, decided_at, re_referral)| ReferralRow {
                submitted_at,
                due_at,
                decided_at,
                re_referral,
            },
        )
        .collect())
}

/// When each early help assessment started in the period started.
pub async fn assessments_started(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    Ok(assessments::Entity::find()
        .select_only()
        .column(assessments::Column::StartedAt)
        .filter(assessments::Column::StartedAt.gte(scope.start))
        .filter(assessments::Column::StartedAt.lt(scope.end))
        .filter(in_area(assessments::Column::PersonId, scope))
        .into_tuple()
        .all(conn)
        .await?)
}

/// When and with what outcome each early help assessment closed in the period closed.
pub async fn assessments_closed(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<Vec<(DateTime<Utc>, Option<String>)>, StoreError> {
    Ok(assessments::Entity::find()
        .select_only()
        .columns([assessments::Column::ClosedAt, assessments::Column::Outcome])
        .filter(assessments::Column::ClosedAt.gte(scope.start))
        .filter(assessments::Column::ClosedAt.lt(scope.end))
        .filter(in_area(assessments::Column::PersonId, scope))
        .into_tuple::<(Option<DateTime<Utc>>, Option<String>)>()
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|(at, outcome)| Some((at?, outcome)))
        .collect())
}

/// When each fact of these kinds, held by organisations of these kinds, happened in the
/// period, with whose it is.
pub async fn fact_times(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    kinds: &[&str],
    holders: &[AgencyKind],
) -> Result<Vec<(PersonId, DateTime<Utc>)>, StoreError> {
    if holders.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(Uuid, DateTime<Utc>)> = facts::Entity::find()
        .select_only()
        .columns([facts::Column::PersonId, facts::Column::OccurredAt])
        .filter(facts::Column::Kind.is_in(kinds.iter().copied()))
        .filter(facts::Column::OccurredAt.gte(scope.start))
        .filter(facts::Column::OccurredAt.lt(scope.end))
        .filter(held_by(holders))
        .filter(in_area(facts::Column::PersonId, scope))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(p, at)| (PersonId(p), at)).collect())
}

/// Dates of birth of these persons (for age bands), in chunks under SQLite's parameter limit.
pub async fn dates_of_birth(
    conn: &impl ConnectionTrait,
    ids: &[PersonId],
) -> Result<Vec<(PersonId, NaiveDate)>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::indicators::CHUNK) {
        let rows: Vec<(Uuid, Option<NaiveDate>)> = persons::Entity::find()
            .select_only()
            .columns([persons::Column::Id, persons::Column::DateOfBirth])
            .filter(persons::Column::Id.is_in(chunk.iter().map(|p| p.0)))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(
            rows.into_iter()
                .filter_map(|(id, dob)| Some((PersonId(id), dob?))),
        );
    }
    Ok(out)
}

/// Attendance summaries in the period of children known to social care: a child with a fact
/// of one of `social_care_kinds`, held by an organisation of `social_care_holders`, that
/// happened before the period ended. Each with the child and the payload as text.
pub async fn attendance_of_children_known_to_social_care(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    attendance_holders: &[AgencyKind],
    social_care_kinds: &[&str],
    social_care_holders: &[AgencyKind],
) -> Result<Vec<(PersonId, DateTime<Utc>, String)>, StoreError> {
    if attendance_holders.is_empty() || social_care_holders.is_empty() {
        return Ok(vec![]);
    }
    let mut known = Query::select();
    known
        .column(facts::Column::PersonId)
        .from(facts::Entity)
        .and_where(facts::Column::Kind.is_in(social_care_kinds.iter().copied()))
        .and_where(Expr::col(facts::Column::OccurredAt).lt(scope.end))
        .cond_where(held_by(social_care_holders));
    let mut children = Query::select();
    children
        .column(persons::Column::Id)
        .from(persons::Entity)
        .and_where(Expr::col(persons::Column::IsChild).eq(true));
    let rows: Vec<(Uuid, DateTime<Utc>, String)> = facts::Entity::find()
        .select_only()
        .columns([facts::Column::PersonId, facts::Column::OccurredAt])
        .column_as(
            Expr::col(facts::Column::Payload).cast_as(sea_orm::sea_query::Alias::new("text")),
            "payload",
        )
        .filter(facts::Column::Kind.eq("attendance_summary"))
        .filter(facts::Column::OccurredAt.gte(scope.start))
        .filter(facts::Column::OccurredAt.lt(scope.end))
        .filter(held_by(attendance_holders))
        .filter(facts::Column::PersonId.in_subquery(known))
        .filter(facts::Column::PersonId.in_subquery(children))
        .filter(in_area(facts::Column::PersonId, scope))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(p, at, payload)| (PersonId(p), at, payload))
        .collect())
}
