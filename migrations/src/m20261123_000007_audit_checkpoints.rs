//! Signed checkpoints of the access log: every so many entries (and every few minutes) the hub
//! signs the chain head with an Ed25519 key, so someone holding the public key can tell that
//! the log up to there is the one the hub wrote. Append-only, like the log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Seq,
    EntryHash,
    At,
    PublicKey,
    Signature,
}

const SQLITE: &[&str] = &[
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END",
];

const POSTGRES: &[&str] = &[
    "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION kinship_append_only()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditCheckpoints::Table)
                .col(big_integer(AuditCheckpoints::Seq).primary_key())
                .col(string(AuditCheckpoints::EntryHash))
                .col(timestamp_with_time_zone(AuditCheckpoints::At))
                .col(string(AuditCheckpoints::PublicKey))
                .col(string(AuditCheckpoints::Signature))
                .to_owned(),
        )
        .await?;
        crate::run_raw(m, SQLITE, POSTGRES).await
    }
}
