//! Families and households the hub derives: a family from the relationships sources declare,
//! a household from a shared current address. `basis` says which (`relationships`,
//! `address`); a family the hub's users made themselves has none. Derived groups are rebuilt
//! as records arrive, so their memberships can be replaced without touching the others.
//!
//! A batch of records queues the persons it touched in `family_queue`, in its own
//! transaction; the end of a sync run rebuilds their groups and empties the queue. A run that
//! dies leaves the queue for the next one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Families {
    Table,
    Basis,
}

#[derive(DeriveIden)]
enum FamilyQueue {
    Table,
    PersonId,
    QueuedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Families::Table)
                .add_column(string_null(Families::Basis))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(FamilyQueue::Table)
                .col(uuid(FamilyQueue::PersonId).primary_key())
                .col(timestamp_with_time_zone(FamilyQueue::QueuedAt))
                .to_owned(),
        )
        .await
    }
}
