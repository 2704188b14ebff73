//! Probabilistic linkage and its review. A source record keeps the score and the
//! per-comparison weights it was linked with; pairs scored between the review and link
//! thresholds wait in `match_reviews` for a person to confirm or reject; a rejected (or split)
//! pair stays there as a rejection, so it is never linked again automatically. Blocking looks
//! names up by date of birth.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MatchReviews {
    Table,
    Id,
    SourceRecordId,
    RecordPersonId,
    CandidatePersonId,
    Score,
    Detail,
    Status,
    CreatedAt,
    DecidedAt,
    DecidedBy,
    Note,
}

#[derive(DeriveIden)]
enum SourceRecords {
    Table,
    LinkScore,
    LinkDetail,
}

#[derive(DeriveIden)]
enum PersonNames {
    Table,
    DateOfBirth,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MatchReviews::Table)
                .col(uuid(MatchReviews::Id).primary_key())
                .col(uuid(MatchReviews::SourceRecordId))
                .col(uuid(MatchReviews::RecordPersonId))
                .col(uuid(MatchReviews::CandidatePersonId))
                .col(double(MatchReviews::Score))
                .col(text(MatchReviews::Detail))
                .col(string(MatchReviews::Status))
                .col(timestamp_with_time_zone(MatchReviews::CreatedAt))
                .col(timestamp_with_time_zone_null(MatchReviews::DecidedAt))
                .col(string_null(MatchReviews::DecidedBy))
                .col(text_null(MatchReviews::Note))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "ix_match_reviews_status",
                vec![MatchReviews::Status, MatchReviews::CreatedAt],
            ),
            (
                "ix_match_reviews_record",
                vec![MatchReviews::SourceRecordId],
            ),
            (
                "ix_match_reviews_candidate",
                vec![MatchReviews::CandidatePersonId],
            ),
            (
                "ix_match_reviews_person",
                vec![MatchReviews::RecordPersonId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(MatchReviews::Table);
            for c in cols {
                index.col(c);
            }
            m.create_index(index.to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(SourceRecords::Table)
                .add_column(double_null(SourceRecords::LinkScore))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(SourceRecords::Table)
                .add_column(text_null(SourceRecords::LinkDetail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_person_names_dob")
                .table(PersonNames::Table)
                .col(PersonNames::DateOfBirth)
                .to_owned(),
        )
        .await
    }
}
