//! The sync engine's state: cursors, runs, quarantine, what each source record declared, and
//! the parsed envelope kept beside the raw payload so a record can be re-linked or re-derived
//! without pulling it again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SourceRecords {
    Table,
    Connector,
    SubjectKey,
    Envelope,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SourceRelationships {
    Table,
    Id,
    SourceRecordId,
    Connector,
    RelatedKey,
    Kind,
    ParentalResponsibility,
    Resolved,
}

#[derive(DeriveIden)]
enum SyncCursors {
    Table,
    Connector,
    Cursor,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    Connector,
    StartedAt,
    FinishedAt,
    Status,
    Batches,
    RecordsNew,
    RecordsChanged,
    RecordsUnchanged,
    RecordsQuarantined,
    Retries,
    Error,
}

#[derive(DeriveIden)]
enum Quarantine {
    Table,
    Id,
    Connector,
    SourceKey,
    Reason,
    Raw,
    ReceivedAt,
    RunId,
    State,
    Attempts,
    ResolvedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            string_null(SourceRecords::SubjectKey),
            text_null(SourceRecords::Envelope),
            timestamp_with_time_zone_null(SourceRecords::UpdatedAt),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(SourceRecords::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        // Records waiting for the record that describes their person.
        m.create_index(
            Index::create()
                .name("ix_source_records_subject")
                .table(SourceRecords::Table)
                .col(SourceRecords::Connector)
                .col(SourceRecords::SubjectKey)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SourceRelationships::Table)
                .col(pk_uuid(SourceRelationships::Id))
                .col(uuid(SourceRelationships::SourceRecordId))
                .col(string(SourceRelationships::Connector))
                .col(string(SourceRelationships::RelatedKey))
                .col(string(SourceRelationships::Kind))
                .col(boolean_null(SourceRelationships::ParentalResponsibility))
                .col(boolean(SourceRelationships::Resolved))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_source_relationships_record")
                .table(SourceRelationships::Table)
                .col(SourceRelationships::SourceRecordId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_source_relationships_related")
                .table(SourceRelationships::Table)
                .col(SourceRelationships::Connector)
                .col(SourceRelationships::RelatedKey)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SyncCursors::Table)
                .col(string(SyncCursors::Connector).primary_key())
                .col(text(SyncCursors::Cursor))
                .col(timestamp_with_time_zone(SyncCursors::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SyncRuns::Table)
                .col(pk_uuid(SyncRuns::Id))
                .col(string(SyncRuns::Connector))
                .col(timestamp_with_time_zone(SyncRuns::StartedAt))
                .col(timestamp_with_time_zone_null(SyncRuns::FinishedAt))
                .col(string(SyncRuns::Status))
                .col(big_integer(SyncRuns::Batches))
                .col(big_integer(SyncRuns::RecordsNew))
                .col(big_integer(SyncRuns::RecordsChanged))
                .col(big_integer(SyncRuns::RecordsUnchanged))
                .col(big_integer(SyncRuns::RecordsQuarantined))
                .col(big_integer(SyncRuns::Retries))
                .col(text_null(SyncRuns::Error))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sync_runs_connector")
                .table(SyncRuns::Table)
                .col(SyncRuns::Connector)
                .col(SyncRuns::StartedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Quarantine::Table)
                .col(pk_uuid(Quarantine::Id))
                .col(string(Quarantine::Connector))
                .col(string_null(Quarantine::SourceKey))
                .col(text(Quarantine::Reason))
                .col(text(Quarantine::Raw))
                .col(timestamp_with_time_zone(Quarantine::ReceivedAt))
                .col(uuid_null(Quarantine::RunId))
                .col(string(Quarantine::State))
                .col(integer(Quarantine::Attempts))
                .col(timestamp_with_time_zone_null(Quarantine::ResolvedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_quarantine_connector_state")
                .table(Quarantine::Table)
                .col(Quarantine::Connector)
                .col(Quarantine::State)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
