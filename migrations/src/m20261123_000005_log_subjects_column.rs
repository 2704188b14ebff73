//! An entry carries its subjects in a column of its own, and the database fills the subject
//! index from it as the entry goes in. An append is then one INSERT statement, atomic with
//! its subjects and the chain check of migration 4, instead of a transaction of several.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessLog {
    Table,
    Subjects,
}

const SQLITE: &[&str] = &[
    // Person ids are stored as 16-byte blobs; the column holds them as hyphenated text.
    "CREATE TRIGGER access_log_subjects_fill AFTER INSERT ON access_log WHEN NEW.subjects IS NOT NULL BEGIN \
       INSERT INTO access_log_subjects (seq, person_id) \
         SELECT NEW.seq, unhex(replace(value, '-', '')) FROM json_each(NEW.subjects); \
     END",
];

const POSTGRES: &[&str] = &[
    "CREATE FUNCTION kinship_access_log_subjects() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       INSERT INTO access_log_subjects (seq, person_id) \
         SELECT NEW.seq, s::uuid FROM jsonb_array_elements_text(NEW.subjects) AS s; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER access_log_subjects_fill AFTER INSERT ON access_log FOR EACH ROW WHEN (NEW.subjects IS NOT NULL) EXECUTE FUNCTION kinship_access_log_subjects()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AccessLog::Table)
                .add_column(ColumnDef::new(AccessLog::Subjects).json_binary().null())
                .to_owned(),
        )
        .await?;
        crate::run_raw(m, SQLITE, POSTGRES).await
    }
}
