//! Indexes for the partnership indicators: each KPI reads the rows of a period, so each is
//! found through its time column rather than by scanning the table — facts by kind and when
//! they happened, referrals by when they were submitted, assessments by when they closed
//! (`ix_assessments_started` already serves starts).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Facts {
    Table,
    Kind,
    OccurredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Referrals {
    Table,
    SubmittedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Assessments {
    Table,
    ClosedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_facts_kind_time")
                .table(Facts::Table)
                .col(Facts::Kind)
                .col(Facts::OccurredAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_referrals_submitted")
                .table(Referrals::Table)
                .col(Referrals::SubmittedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_assessments_closed")
                .table(Assessments::Table)
                .col(Assessments::ClosedAt)
                .to_owned(),
        )
        .await
    }
}
