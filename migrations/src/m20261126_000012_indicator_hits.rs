//! Indicators of need that hold, per person and indicator set: what `familiesMeetingCriteria`
//! reads without evaluating a whole population per request. A row says which indicator of
//! which set holds for a person, for which criterion, since when, and which facts are the
//! evidence. Sync refreshes the rows of the persons a run touched; `kinship indicators
//! refresh` re-evaluates everyone (windows move on as time passes).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IndicatorHits {
    Table,
    SetId,
    IndicatorId,
    PersonId,
    Criterion,
    Since,
    Evidence,
    EvaluatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(IndicatorHits::Table)
                .col(string(IndicatorHits::SetId))
                .col(string(IndicatorHits::IndicatorId))
                .col(uuid(IndicatorHits::PersonId))
                .col(string(IndicatorHits::Criterion))
                .col(timestamp_with_time_zone(IndicatorHits::Since))
                .col(json(IndicatorHits::Evidence))
                .col(timestamp_with_time_zone(IndicatorHits::EvaluatedAt))
                .primary_key(
                    Index::create()
                        .col(IndicatorHits::PersonId)
                        .col(IndicatorHits::SetId)
                        .col(IndicatorHits::IndicatorId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_indicator_hits_set_person")
                .table(IndicatorHits::Table)
                .col(IndicatorHits::SetId)
                .col(IndicatorHits::PersonId)
                .col(IndicatorHits::Criterion)
                .to_owned(),
        )
        .await
    }
}
