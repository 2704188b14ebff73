//! Kinship's schema, as forward-only migrations: the only source of the database's shape.
//!
//! The same steps run on SQLite and PostgreSQL, so they use sea-query's builder and portable
//! types only (UUID, text, JSON, timestamps with time zone, booleans, 64-bit integers). A step
//! that has been released is never edited; a fix is a new step.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_graph;
mod m20261123_000002_sync;
mod m20261123_000003_sync_indexes;
mod m20261123_000004_append_only_log;
mod m20261123_000005_log_subjects_column;
mod m20261123_000006_break_glass_reviews;
mod m20261123_000007_audit_checkpoints;
mod m20261124_000008_name_dob_block;
mod m20261124_000009_registered_operations;
mod m20261125_000010_match_review;
mod m20261125_000011_derived_families;
mod m20261126_000012_indicator_hits;
mod m20261126_000013_front_door;
mod m20261126_000014_involvement_contact_shields;
mod m20261126_000020_notifications;
mod m20261126_000030_kpis;
mod m20261127_000050_access_log_file;
mod m20261128_000060_drop_names_family_index;
mod m20261129_000061_covering_name_indexes;
mod m20261130_000062_person_indexes_for_merges;

pub use m20261122_000001_graph::GENESIS_HASH;

/// The step that moves a SQLite store's access log to a file of its own: once it has run,
/// that file must be there.
pub const LOG_FILE_MIGRATION: &str = "m20261127_000050_access_log_file";

/// Runs statements written for each backend (triggers and functions, which sea-query does not
/// build) on the one the migration is running on.
pub(crate) async fn run_raw(
    m: &SchemaManager<'_>,
    sqlite: &[&str],
    postgres: &[&str],
) -> Result<(), DbErr> {
    let statements = match m.get_database_backend() {
        sea_orm_migration::sea_orm::DbBackend::Postgres => postgres,
        _ => sqlite,
    };
    for sql in statements {
        m.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Runs Kinship's migrations.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_graph::Migration),
            Box::new(m20261123_000002_sync::Migration),
            Box::new(m20261123_000003_sync_indexes::Migration),
            Box::new(m20261123_000004_append_only_log::Migration),
            Box::new(m20261123_000005_log_subjects_column::Migration),
            Box::new(m20261123_000006_break_glass_reviews::Migration),
            Box::new(m20261123_000007_audit_checkpoints::Migration),
            Box::new(m20261124_000008_name_dob_block::Migration),
            Box::new(m20261124_000009_registered_operations::Migration),
            Box::new(m20261125_000010_match_review::Migration),
            Box::new(m20261125_000011_derived_families::Migration),
            Box::new(m20261126_000012_indicator_hits::Migration),
            Box::new(m20261126_000013_front_door::Migration),
            Box::new(m20261126_000014_involvement_contact_shields::Migration),
            Box::new(m20261126_000020_notifications::Migration),
            Box::new(m20261126_000030_kpis::Migration),
            Box::new(m20261127_000050_access_log_file::Migration),
            Box::new(m20261128_000060_drop_names_family_index::Migration),
            Box::new(m20261129_000061_covering_name_indexes::Migration),
            Box::new(m20261130_000062_person_indexes_for_merges::Migration),
        ]
    }
}
