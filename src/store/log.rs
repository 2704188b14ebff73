//! The access log's rows and its chain head. Insert-only: nothing here updates or deletes an
//! entry. The database moves the head as each entry goes in and refuses an entry that does
//! not continue it (migrations 4 and 5), so appends from many connections (or hub processes)
//! serialise into one chain.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::StoreError;
use super::entity::{access_log, access_log_subjects, audit_head};
use crate::model::PersonId;

pub use kinship_migrations::GENESIS_HASH;

/// One access-log row as stored (and as one line of an extract).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogRow {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub principal_subject: String,
    pub principal_organisation: String,
    pub principal_roles: Vec<String>,
    pub purpose: Option<String>,
    pub justification: Option<String>,
    pub break_glass: bool,
    pub operation_name: Option<String>,
    pub query_hash: String,
    pub outcome: String,
    pub reads: serde_json::Value,
    pub subjects: Vec<PersonId>,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// The chain head: the last entry's position and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub entry_hash: String,
}

/// Reads the chain head (locked only if the transaction locked it first).
pub async fn head(conn: &impl ConnectionTrait) -> Result<Head, StoreError> {
    let head = audit_head::Entity::find_by_id(1)
        .one(conn)
        .await?
        .ok_or(StoreError::Corrupt {
            table: "audit_head",
            column: "id",
        })?;
    Ok(Head {
        seq: head.seq,
        entry_hash: head.entry_hash,
    })
}

/// Inserts entries and their subjects.
pub async fn insert(conn: &impl ConnectionTrait, rows: &[LogRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // 18 columns a row: 1,000 rows stay under SQLite's 32,766 and PostgreSQL's 65,535
    // parameters a statement. The database fills the subject index from each row's
    // `subjects` (migration 5), so one statement appends a batch.
    for chunk in rows.chunks(1_000) {
        insert_entries(conn, chunk).await?;
    }
    Ok(())
}

async fn insert_entries(conn: &impl ConnectionTrait, rows: &[LogRow]) -> Result<(), StoreError> {
    access_log::Entity::insert_many(rows.iter().map(|r| access_log::ActiveModel {
        seq: Set(r.seq),
        id: Set(r.id),
        at: Set(r.at),
        request_id: Set(r.request_id.clone()),
        client_addr: Set(r.client_addr.clone()),
        principal_subject: Set(r.principal_subject.clone()),
        principal_organisation: Set(r.principal_organisation.clone()),
        principal_roles: Set(serde_json::json!(r.principal_roles)),
        purpose: Set(r.purpose.clone()),
        justification: Set(r.justification.clone()),
        break_glass: Set(r.break_glass),
        operation_name: Set(r.operation_name.clone()),
        query_hash: Set(r.query_hash.clone()),
        outcome: Set(r.outcome.clone()),
        reads: Set(r.reads.clone()),
        prev_hash: Set(r.prev_hash.clone()),
        entry_hash: Set(r.entry_hash.clone()),
        subjects: Set(Some(serde_json::json!(r.subjects))),
    }))
    .exec(conn)
    .await?;
    Ok(())
}

/// Entries from `from_seq` on, in chain order, at most `limit`, with their subjects.
pub async fn entries(
    conn: &impl ConnectionTrait,
    from_seq: i64,
    limit: u64,
) -> Result<Vec<LogRow>, StoreError> {
    let rows = access_log::Entity::find()
        .filter(access_log::Column::Seq.gte(from_seq))
        .order_by_asc(access_log::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(vec![]);
    };
    let subjects = access_log_subjects::Entity::find()
        .filter(access_log_subjects::Column::Seq.between(first.seq, last.seq))
        .order_by_asc(access_log_subjects::Column::Seq)
        .order_by_asc(access_log_subjects::Column::PersonId)
        .all(conn)
        .await?;
    let mut subjects = subjects.into_iter().peekable();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut mine = Vec::new();
        while let Some(s) = subjects.next_if(|s| s.seq <= r.seq) {
            if s.seq == r.seq {
                mine.push(PersonId(s.person_id));
            }
        }
        let roles = serde_json::from_value(r.principal_roles).map_err(|_| StoreError::Corrupt {
            table: "access_log",
            column: "principal_roles",
        })?;
        out.push(LogRow {
            seq: r.seq,
            id: r.id,
            at: r.at,
            request_id: r.request_id,
            client_addr: r.client_addr,
            principal_subject: r.principal_subject,
            principal_organisation: r.principal_organisation,
            principal_roles: roles,
            purpose: r.purpose,
            justification: r.justification,
            break_glass: r.break_glass,
            operation_name: r.operation_name,
            query_hash: r.query_hash,
            outcome: r.outcome,
            reads: r.reads,
            subjects: mine,
            prev_hash: r.prev_hash,
            entry_hash: r.entry_hash,
        });
    }
    Ok(out)
}

/// How many entries the log holds.
pub async fn count(conn: &impl ConnectionTrait) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(access_log::Entity::find().count(conn).await?)
}
