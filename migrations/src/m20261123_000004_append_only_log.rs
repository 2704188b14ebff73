//! The access log is append-only in the database itself, not only in the application: on both
//! stores, triggers refuse UPDATE and DELETE of entries and their subjects, refuse deleting the
//! chain head, and refuse an entry that does not continue the chain (its `seq` is not the head's
//! plus one, or its `prev_hash` is not the head's hash), moving the head as each entry goes in.
//! Someone with the rights to drop the triggers can still edit the tables; `kinship audit
//! verify` and signed checkpoints are what catch that.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &[&str] = &[
    "CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
    "CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
    "CREATE TRIGGER access_log_subjects_no_update BEFORE UPDATE ON access_log_subjects BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
    "CREATE TRIGGER access_log_subjects_no_delete BEFORE DELETE ON access_log_subjects BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
    "CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log BEGIN \
       SELECT RAISE(ABORT, 'the entry does not continue the access-log chain') \
         WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq + 1 = NEW.seq AND entry_hash = NEW.prev_hash); \
       UPDATE audit_head SET seq = NEW.seq, entry_hash = NEW.entry_hash WHERE id = 1; \
     END",
];

const POSTGRES: &[&str] = &[
    "CREATE FUNCTION kinship_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'the access log is append-only'; END $$",
    "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log FOR EACH ROW EXECUTE FUNCTION kinship_append_only()",
    "CREATE TRIGGER access_log_subjects_append_only BEFORE UPDATE OR DELETE ON access_log_subjects FOR EACH ROW EXECUTE FUNCTION kinship_append_only()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head FOR EACH ROW EXECUTE FUNCTION kinship_append_only()",
    "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log FOR EACH STATEMENT EXECUTE FUNCTION kinship_append_only()",
    "CREATE TRIGGER access_log_subjects_no_truncate BEFORE TRUNCATE ON access_log_subjects FOR EACH STATEMENT EXECUTE FUNCTION kinship_append_only()",
    "CREATE FUNCTION kinship_access_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       UPDATE audit_head SET seq = NEW.seq, entry_hash = NEW.entry_hash \
         WHERE id = 1 AND seq + 1 = NEW.seq AND entry_hash = NEW.prev_hash; \
       IF NOT FOUND THEN RAISE EXCEPTION 'the entry does not continue the access-log chain'; END IF; \
       RETURN NEW; \
     END $$",
    "CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION kinship_access_log_chain()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::run_raw(m, SQLITE, POSTGRES).await
    }
}
