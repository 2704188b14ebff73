//! `ix_person_names_family` (family, given) is a prefix of `ix_person_names_name_dob` (family,
//! given, date of birth), which serves every lookup the first did: one index fewer for each
//! name the sync engine writes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DROP: &[&str] = &["DROP INDEX IF EXISTS ix_person_names_family"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::run_raw(m, DROP, DROP).await
    }
}
