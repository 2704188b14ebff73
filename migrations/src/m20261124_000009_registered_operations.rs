//! Registered operations (trusted documents): the GraphQL documents partner applications may
//! run, each with its id, application and who approved it. An access-log entry names the
//! registered operation it ran, so the board can count each one's use.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RegisteredOperations {
    Table,
    Id,
    Application,
    Name,
    Kind,
    Document,
    DocumentHash,
    ApprovedBy,
    RegisteredAt,
    RegisteredBy,
    WithdrawnAt,
}

#[derive(DeriveIden)]
enum AccessLog {
    Table,
    RegisteredOperation,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RegisteredOperations::Table)
                .col(string(RegisteredOperations::Id).primary_key())
                .col(string(RegisteredOperations::Application))
                .col(string_null(RegisteredOperations::Name))
                .col(string(RegisteredOperations::Kind))
                .col(text(RegisteredOperations::Document))
                .col(string(RegisteredOperations::DocumentHash))
                .col(string(RegisteredOperations::ApprovedBy))
                .col(timestamp_with_time_zone(RegisteredOperations::RegisteredAt))
                .col(string(RegisteredOperations::RegisteredBy))
                .col(timestamp_with_time_zone_null(
                    RegisteredOperations::WithdrawnAt,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_registered_operations_hash")
                .table(RegisteredOperations::Table)
                .col(RegisteredOperations::DocumentHash)
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AccessLog::Table)
                .add_column(string_null(AccessLog::RegisteredOperation))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_access_log_registered_operation")
                .table(AccessLog::Table)
                .col(AccessLog::RegisteredOperation)
                .to_owned(),
        )
        .await
    }
}
