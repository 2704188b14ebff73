//! The two name indexes linkage probes carry what the probe returns, so a lookup reads the
//! index alone and never the table's rows:
//!
//! - `ix_person_names_dob_names` (date of birth, family, given, person) replaces
//!   `ix_person_names_dob`: probabilistic blocking asks for the names with a date of birth
//!   whose family or given name agrees with a record's, and reads them from the index;
//! - `ix_person_names_names_person` (family, given, date of birth, person) replaces
//!   `ix_person_names_name_dob`: deterministic linkage on name and date of birth, and blocking
//!   by name, read the person from the index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS ix_person_names_dob_names \
     ON person_names (date_of_birth, family_norm, given_norm, person_id)",
    "DROP INDEX IF EXISTS ix_person_names_dob",
    "CREATE INDEX IF NOT EXISTS ix_person_names_names_person \
     ON person_names (family_norm, given_norm, date_of_birth, person_id)",
    "DROP INDEX IF EXISTS ix_person_names_name_dob",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::run_raw(m, UP, UP).await
    }
}
