//! The board's findings on break-glass reads: one per access-log entry, recorded once. The
//! finding is itself an action in the access log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BreakGlassReviews {
    Table,
    Seq,
    Outcome,
    Note,
    ReviewedBy,
    ReviewedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BreakGlassReviews::Table)
                .col(big_integer(BreakGlassReviews::Seq).primary_key())
                .col(string(BreakGlassReviews::Outcome))
                .col(text(BreakGlassReviews::Note))
                .col(string(BreakGlassReviews::ReviewedBy))
                .col(timestamp_with_time_zone(BreakGlassReviews::ReviewedAt))
                .to_owned(),
        )
        .await
    }
}
