//! The notification outbox: events queued by sync, notifications per recipient organisation,
//! and webhook deliveries per partner application.
//!
//! Every write is idempotent: an event is keyed by its fact, a notification by (fact,
//! recipient organisation), a delivery by (notification, partner). Writing the same thing twice
//! — a re-pulled record, a second hub replica expanding the same event, a hub restarted halfway
//! — changes nothing. A delivery is sent only by whoever holds its lease, and is marked
//! delivered as soon as the partner acknowledges it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::StoreError;
use super::graph;
use crate::model::{Fact, FactId, InvolvementKind, NotificationKind, OrganisationId, PersonId};

pub(super) mod events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub fact_id: Uuid,
        pub person_id: Uuid,
        pub kind: String,
        pub occurred_at: ChronoDateTimeUtc,
        pub queued_at: ChronoDateTimeUtc,
        pub expanded_at: Option<ChronoDateTimeUtc>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod notices {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub fact_id: Uuid,
        pub person_id: Uuid,
        pub organisation_id: String,
        pub kind: String,
        pub occurred_at: ChronoDateTimeUtc,
        pub created_at: ChronoDateTimeUtc,
        pub due_at: ChronoDateTimeUtc,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

mod deliveries {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub notification_id: Uuid,
        pub partner: String,
        pub organisation_id: String,
        pub status: String,
        pub attempts: i64,
        pub next_attempt_at: ChronoDateTimeUtc,
        pub lease_until: Option<ChronoDateTimeUtc>,
        pub released_at: Option<ChronoDateTimeUtc>,
        pub last_error: Option<String>,
        pub delivered_at: Option<ChronoDateTimeUtc>,
        pub due_at: ChronoDateTimeUtc,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

/// A fact that calls for a notification, waiting to be addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub fact_id: FactId,
    pub person_id: PersonId,
    pub kind: NotificationKind,
    pub occurred_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
}

/// A notification for one recipient organisation. Holds ids only: what it says is read
/// through the gate when it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub id: Uuid,
    pub fact_id: FactId,
    pub person_id: PersonId,
    /// The recipient: the school whose DSL must be told.
    pub organisation: OrganisationId,
    pub kind: NotificationKind,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The start of the next school day after it was created.
    pub due_at: DateTime<Utc>,
}

/// Where a webhook delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not acknowledged yet: attempts go on.
    Pending,
    /// The partner answered 2xx.
    Delivered,
    /// The gate refused it to the recipient (the child left the school, say): never sent.
    Refused,
}

impl DeliveryStatus {
    /// The stable stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "refused" => Ok(Self::Refused),
            _ => Err(corrupt("notification_deliveries", "status")),
        }
    }
}

/// A webhook delivery of a notification to a partner application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    pub notification_id: Uuid,
    /// The partner application's configured id.
    pub partner: String,
    pub organisation: OrganisationId,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// When the access-log entry releasing it was written (before its first attempt).
    pub released_at: Option<DateTime<Utc>>,
    /// What went wrong last: an HTTP status or `timeout`, never a response body.
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
}

fn corrupt(table: &'static str, column: &'static str) -> StoreError {
    StoreError::Corrupt { table, column }
}

fn kind(table: &'static str, s: &str) -> Result<NotificationKind, StoreError> {
    NotificationKind::parse(s).ok_or_else(|| corrupt(table, "kind"))
}

fn organisation(table: &'static str, s: &str) -> Result<OrganisationId, StoreError> {
    s.parse().map_err(|_| corrupt(table, "organisation_id"))
}

fn notice_from_row(r: notices::Model) -> Result<Notice, StoreError> {
    Ok(Notice {
        id: r.id,
        fact_id: FactId(r.fact_id),
        person_id: PersonId(r.person_id),
        organisation: organisation("notifications", &r.organisation_id)?,
        kind: kind("notifications", &r.kind)?,
        occurred_at: r.occurred_at,
        created_at: r.created_at,
        due_at: r.due_at,
    })
}

fn delivery_from_row(r: deliveries::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.id,
        notification_id: r.notification_id,
        partner: r.partner,
        organisation: organisation("notification_deliveries", &r.organisation_id)?,
        status: DeliveryStatus::parse(&r.status)?,
        attempts: r.attempts,
        next_attempt_at: r.next_attempt_at,
        released_at: r.released_at,
        last_error: r.last_error,
        delivered_at: r.delivered_at,
        due_at: r.due_at,
    })
}

/// Queues an event for each of `facts` that calls for a notification. Runs inside the sync
/// batch's transaction, so the event commits with the fact or not at all; keyed by the fact,
/// so a fact written again (a changed record, a re-pull) queues nothing new.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    facts: &[Fact],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows: Vec<events::ActiveModel> = facts
        .iter()
        .filter_map(|f| {
            let kind = NotificationKind::for_fact(f)?;
            Some(events::ActiveModel {
                fact_id: Set(f.id.0),
                person_id: Set(f.person_id.0),
                kind: Set(kind.as_str().to_owned()),
                occurred_at: Set(f.occurred_at),
                queued_at: Set(now),
                expanded_at: Set(None),
            })
        })
        .collect();
    let n = rows.len();
    if n == 0 {
        return Ok(0);
    }
    events::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(events::Column::FactId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(n)
}

/// Events not yet addressed to their recipients, oldest first.
pub async fn unexpanded(conn: &impl ConnectionTrait, limit: u64) -> Result<Vec<Event>, StoreError> {
    events::Entity::find()
        .filter(events::Column::ExpandedAt.is_null())
        .order_by_asc(events::Column::QueuedAt)
        .order_by_asc(events::Column::FactId)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Event {
                fact_id: FactId(r.fact_id),
                person_id: PersonId(r.person_id),
                kind: kind("notification_events", &r.kind)?,
                occurred_at: r.occurred_at,
                queued_at: r.queued_at,
            })
        })
        .collect()
}

/// The organisations holding an involvement of `kind` in force at `now` with the person or
/// one of their families: whoever holds it there (the whole organisation or one of its staff).
pub async fn recipients(
    conn: &impl ConnectionTrait,
    person: PersonId,
    kind: InvolvementKind,
    now: DateTime<Utc>,
) -> Result<Vec<OrganisationId>, StoreError> {
    let memberships = graph::memberships(conn, &[person]).await?;
    let families = graph::family_ids(&memberships);
    let found: BTreeSet<OrganisationId> = graph::involvements(conn, &[person], &families)
        .await?
        .into_iter()
        .filter(|i| i.kind == kind && i.is_active(now))
        .map(|i| i.organisation)
        .collect();
    Ok(found.into_iter().collect())
}

/// A notification to write for an event, with the partners whose webhooks carry it.
#[derive(Clone, Debug)]
pub struct Addressed {
    pub organisation: OrganisationId,
    pub due_at: DateTime<Utc>,
    pub partners: Vec<String>,
}

/// Writes an event's notifications and deliveries and marks it addressed, in one transaction
/// the caller opens. Idempotent: what already exists stays as it is.
pub async fn expand(
    conn: &impl ConnectionTrait,
    event: &Event,
    addressed: &[Addressed],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for a in addressed {
        notices::Entity::insert(notices::ActiveModel {
            id: Set(Uuid::now_v7()),
            fact_id: Set(event.fact_id.0),
            person_id: Set(event.person_id.0),
            organisation_id: Set(a.organisation.to_string()),
            kind: Set(event.kind.as_str().to_owned()),
            occurred_at: Set(event.occurred_at),
            created_at: Set(now),
            due_at: Set(a.due_at),
        })
        .on_conflict(
            OnConflict::columns([notices::Column::FactId, notices::Column::OrganisationId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        // The id of the row that won, ours or one written before.
        let Some(notice) = notices::Entity::find()
            .filter(notices::Column::FactId.eq(event.fact_id.0))
            .filter(notices::Column::OrganisationId.eq(a.organisation.as_str()))
            .one(conn)
            .await?
        else {
            continue;
        };
        if a.partners.is_empty() {
            continue;
        }
        deliveries::Entity::insert_many(a.partners.iter().map(|p| deliveries::ActiveModel {
            id: Set(Uuid::now_v7()),
            notification_id: Set(notice.id),
            partner: Set(p.clone()),
            organisation_id: Set(a.organisation.to_string()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            lease_until: Set(None),
            released_at: Set(None),
            last_error: Set(None),
            delivered_at: Set(None),
            due_at: Set(a.due_at),
        }))
        .on_conflict(
            OnConflict::columns([
                deliveries::Column::NotificationId,
                deliveries::Column::Partner,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    }
    events::Entity::update_many()
        .col_expr(
            events::Column::ExpandedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(events::Column::FactId.eq(event.fact_id.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// A notification by id.
pub async fn notice(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<Notice>, StoreError> {
    notices::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(notice_from_row)
        .transpose()
}

/// Notifications for `organisation` created after the one with id `after` (all of them when
/// `None`), oldest first. Ids are time-ordered (UUIDv7), so this is a cursor.
pub async fn notices_for(
    conn: &impl ConnectionTrait,
    organisation: &OrganisationId,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Notice>, StoreError> {
    let mut q =
        notices::Entity::find().filter(notices::Column::OrganisationId.eq(organisation.as_str()));
    if let Some(after) = after {
        q = q.filter(notices::Column::Id.gt(after));
    }
    q.order_by_asc(notices::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(notice_from_row)
        .collect()
}

/// The newest notification id for `organisation`: where a subscription that wants only new
/// notifications starts.
pub async fn latest_notice(
    conn: &impl ConnectionTrait,
    organisation: &OrganisationId,
) -> Result<Option<Uuid>, StoreError> {
    Ok(notices::Entity::find()
        .select_only()
        .column(notices::Column::Id)
        .filter(notices::Column::OrganisationId.eq(organisation.as_str()))
        .order_by_desc(notices::Column::Id)
        .limit(1)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?)
}

/// Pending deliveries whose next attempt is due and whose lease (if any) has run out.
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Delivery>, StoreError> {
    deliveries::Entity::find()
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(deliveries::Column::LeaseUntil.is_null())
                .add(deliveries::Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(deliveries::Column::NextAttemptAt)
        .order_by_asc(deliveries::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(delivery_from_row)
        .collect()
}

/// Takes the lease of a pending delivery until `until`. `false` when another worker holds it
/// or it is no longer pending: then this worker must not send it.
pub async fn claim(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(Some(until)),
        )
        .filter(deliveries::Column::Id.eq(id))
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(
            Condition::any()
                .add(deliveries::Column::LeaseUntil.is_null())
                .add(deliveries::Column::LeaseUntil.lt(now)),
        )
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// No lease: the delivery is free for the next worker that claims it.
const NO_LEASE: Option<DateTime<Utc>> = None;

/// Sets columns of one delivery.
async fn set_delivery(
    conn: &impl ConnectionTrait,
    id: Uuid,
    columns: Vec<(deliveries::Column, sea_orm::Value)>,
) -> Result<(), StoreError> {
    let mut update = deliveries::Entity::update_many().filter(deliveries::Column::Id.eq(id));
    for (column, value) in columns {
        update = update.col_expr(column, sea_orm::sea_query::Expr::value(value));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Records that the release of a delivery was logged.
pub async fn mark_released(
    conn: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    set_delivery(
        conn,
        id,
        vec![(deliveries::Column::ReleasedAt, Some(at).into())],
    )
    .await
}

/// Records a failed attempt and when to try again, and gives up the lease.
pub async fn mark_failed(
    conn: &impl ConnectionTrait,
    id: Uuid,
    attempts: i64,
    next: DateTime<Utc>,
    error: &str,
) -> Result<(), StoreError> {
    set_delivery(
        conn,
        id,
        vec![
            (deliveries::Column::Attempts, attempts.into()),
            (deliveries::Column::NextAttemptAt, next.into()),
            (deliveries::Column::LastError, Some(error.to_owned()).into()),
            (deliveries::Column::LeaseUntil, NO_LEASE.into()),
        ],
    )
    .await
}

/// Records the end of a delivery: acknowledged, or refused by the gate.
pub async fn mark_done(
    conn: &impl ConnectionTrait,
    id: Uuid,
    status: DeliveryStatus,
    attempts: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let delivered = (status == DeliveryStatus::Delivered).then_some(at);
    set_delivery(
        conn,
        id,
        vec![
            (deliveries::Column::Status, status.as_str().into()),
            (deliveries::Column::Attempts, attempts.into()),
            (deliveries::Column::DeliveredAt, delivered.into()),
            (deliveries::Column::LeaseUntil, NO_LEASE.into()),
        ],
    )
    .await
}

/// Every delivery of the notifications about one fact (for the board and tests).
pub async fn deliveries_of_fact(
    conn: &impl ConnectionTrait,
    fact: FactId,
) -> Result<Vec<Delivery>, StoreError> {
    let ids: Vec<Uuid> = notices::Entity::find()
        .select_only()
        .column(notices::Column::Id)
        .filter(notices::Column::FactId.eq(fact.0))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    deliveries::Entity::find()
        .filter(deliveries::Column::NotificationId.is_in(ids))
        .order_by_asc(deliveries::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(delivery_from_row)
        .collect()
}

/// Every notification about one fact.
pub async fn notices_of_fact(
    conn: &impl ConnectionTrait,
    fact: FactId,
) -> Result<Vec<Notice>, StoreError> {
    notices::Entity::find()
        .filter(notices::Column::FactId.eq(fact.0))
        .order_by_asc(notices::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(notice_from_row)
        .collect()
}

/// How many events sync has queued in all.
pub async fn event_count(conn: &impl ConnectionTrait) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(events::Entity::find().count(conn).await?)
}

/// Every notification about one person, oldest first (for the board and tests).
pub async fn notices_about(
    conn: &impl ConnectionTrait,
    person: PersonId,
) -> Result<Vec<Notice>, StoreError> {
    notices::Entity::find()
        .filter(notices::Column::PersonId.eq(person.0))
        .order_by_asc(notices::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(notice_from_row)
        .collect()
}
