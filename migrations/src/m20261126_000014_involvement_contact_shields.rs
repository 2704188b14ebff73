//! The team around the child and shield orders.
//!
//! An involvement may say how to reach the practitioner (`contact`: a work phone or team
//! inbox, never the child's data) and, for a sensitive service (CAMHS, sexual health,
//! substance misuse), the data category it is governed as (`category`; null is
//! `person.involvements`). A shield order (adoption, a refuge address, a witness protection
//! order) names the roles that may see anything of the child at all; it remembers whether a
//! source had flagged the person shielded before, so lifting it restores that.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Involvements {
    Table,
    Category,
    Contact,
}

#[derive(DeriveIden)]
enum Shields {
    Table,
    PersonId,
    Reason,
    Roles,
    RecordedBy,
    RecordedAt,
    WasShielded,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Involvements::Table)
                .add_column(string_null(Involvements::Category))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Involvements::Table)
                .add_column(text_null(Involvements::Contact))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Shields::Table)
                .col(uuid(Shields::PersonId).primary_key())
                .col(string(Shields::Reason))
                .col(json(Shields::Roles))
                .col(string(Shields::RecordedBy))
                .col(timestamp_with_time_zone(Shields::RecordedAt))
                .col(boolean(Shields::WasShielded))
                .to_owned(),
        )
        .await
    }
}
