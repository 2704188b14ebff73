//! Notifications (Operation Encompass): an outbox the sync engine writes and a delivery worker
//! drains.
//!
//! - `notification_events`: one row per fact that calls for a notification (a police
//!   domestic-abuse incident with a child present), written in the same transaction as the
//!   sync batch that brought the fact and keyed by the fact, so a re-pulled or changed record
//!   never queues it twice.
//! - `notifications`: one row per (fact, recipient organisation), the school whose designated
//!   safeguarding lead must be told, with the deadline (the start of the next school day).
//!   Subscriptions stream these.
//! - `notification_deliveries`: one row per (notification, partner application) webhook, with
//!   its attempts, the next attempt, a lease (so two hub replicas never send the same one at
//!   once) and when it was acknowledged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationEvents {
    Table,
    FactId,
    PersonId,
    Kind,
    OccurredAt,
    QueuedAt,
    ExpandedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    FactId,
    PersonId,
    OrganisationId,
    Kind,
    OccurredAt,
    CreatedAt,
    DueAt,
}

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    Id,
    NotificationId,
    Partner,
    OrganisationId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    ReleasedAt,
    LastError,
    DeliveredAt,
    DueAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(NotificationEvents::Table)
                .col(uuid(NotificationEvents::FactId).primary_key())
                .col(uuid(NotificationEvents::PersonId))
                .col(string(NotificationEvents::Kind))
                .col(timestamp_with_time_zone(NotificationEvents::OccurredAt))
                .col(timestamp_with_time_zone(NotificationEvents::QueuedAt))
                .col(timestamp_with_time_zone_null(
                    NotificationEvents::ExpandedAt,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notification_events_expanded")
                .table(NotificationEvents::Table)
                .col(NotificationEvents::ExpandedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .col(uuid(Notifications::Id).primary_key())
                .col(uuid(Notifications::FactId))
                .col(uuid(Notifications::PersonId))
                .col(string(Notifications::OrganisationId))
                .col(string(Notifications::Kind))
                .col(timestamp_with_time_zone(Notifications::OccurredAt))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .col(timestamp_with_time_zone(Notifications::DueAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_notifications_fact_recipient")
                .table(Notifications::Table)
                .col(Notifications::FactId)
                .col(Notifications::OrganisationId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notifications_recipient")
                .table(Notifications::Table)
                .col(Notifications::OrganisationId)
                .col(Notifications::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationDeliveries::Table)
                .col(uuid(NotificationDeliveries::Id).primary_key())
                .col(uuid(NotificationDeliveries::NotificationId))
                .col(string(NotificationDeliveries::Partner))
                .col(string(NotificationDeliveries::OrganisationId))
                .col(string(NotificationDeliveries::Status))
                .col(big_integer(NotificationDeliveries::Attempts))
                .col(timestamp_with_time_zone(
                    NotificationDeliveries::NextAttemptAt,
                ))
                .col(timestamp_with_time_zone_null(
                    NotificationDeliveries::LeaseUntil,
                ))
                .col(timestamp_with_time_zone_null(
                    NotificationDeliveries::ReleasedAt,
                ))
                .col(string_null(NotificationDeliveries::LastError))
                .col(timestamp_with_time_zone_null(
                    NotificationDeliveries::DeliveredAt,
                ))
                .col(timestamp_with_time_zone(NotificationDeliveries::DueAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_notification_deliveries_recipient")
                .table(NotificationDeliveries::Table)
                .col(NotificationDeliveries::NotificationId)
                .col(NotificationDeliveries::Partner)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notification_deliveries_due")
                .table(NotificationDeliveries::Table)
                .col(NotificationDeliveries::Status)
                .col(NotificationDeliveries::NextAttemptAt)
                .to_owned(),
        )
        .await
    }
}
