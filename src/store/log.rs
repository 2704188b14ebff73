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
use super::entity::{
    access_log, access_log_subjects, audit_checkpoints, audit_head, break_glass_reviews,
};
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
    /// The id of the registered operation the request ran, if it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_operation: Option<String>,
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

/// An entry's columns but its place in the chain, encoded once when the entry is made: the
/// JSON columns are already the compact text stored, so appending (or appending again after
/// another writer got there first) only adds the position and hashes.
pub struct NewRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub principal_subject: String,
    pub principal_organisation: String,
    /// A JSON array of role names.
    pub principal_roles: String,
    pub purpose: Option<String>,
    pub justification: Option<String>,
    pub break_glass: bool,
    pub operation_name: Option<String>,
    pub registered_operation: Option<String>,
    pub query_hash: String,
    pub outcome: String,
    /// A JSON object with sorted keys.
    pub reads: String,
    /// A JSON array of person ids.
    pub subjects: String,
}

impl std::fmt::Debug for NewRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Whose data was read is not for logs.
        f.debug_struct("NewRow")
            .field("id", &self.id)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// A new row's place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub seq: i64,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// The columns [`append`] fills, in the order it binds them.
const APPEND_COLUMNS: [&str; 19] = [
    "seq",
    "id",
    "at",
    "request_id",
    "client_addr",
    "principal_subject",
    "principal_organisation",
    "principal_roles",
    "purpose",
    "justification",
    "break_glass",
    "operation_name",
    "registered_operation",
    "query_hash",
    "outcome",
    "reads",
    "prev_hash",
    "entry_hash",
    "subjects",
];

/// Which of [`APPEND_COLUMNS`] hold JSON: bound as its text, which PostgreSQL casts to `jsonb`.
const APPEND_JSON: [usize; 3] = [7, 15, 18];

/// Appends new rows, each at its place. The database refuses a row that does not continue the
/// chain, moves the head, and fills the subject index from each row's `subjects` (migrations 4
/// and 5), so one statement appends a batch.
pub async fn append(
    conn: &impl ConnectionTrait,
    rows: &[(&NewRow, Place)],
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    // 19 columns a row: 1,000 rows stay under SQLite's 32,766 and PostgreSQL's 65,535
    // parameters a statement.
    for rows in rows.chunks(1_000) {
        let mut values = Vec::with_capacity(rows.len() * APPEND_COLUMNS.len());
        for (r, p) in rows {
            values.extend([
                p.seq.into(),
                r.id.into(),
                r.at.into(),
                r.request_id.clone().into(),
                r.client_addr.clone().into(),
                r.principal_subject.clone().into(),
                r.principal_organisation.clone().into(),
                r.principal_roles.clone().into(),
                r.purpose.clone().into(),
                r.justification.clone().into(),
                r.break_glass.into(),
                r.operation_name.clone().into(),
                r.registered_operation.clone().into(),
                r.query_hash.clone().into(),
                r.outcome.clone().into(),
                r.reads.clone().into(),
                p.prev_hash.clone().into(),
                p.entry_hash.clone().into(),
                r.subjects.clone().into(),
            ]);
        }
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            append_sql(backend, rows.len()),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// `INSERT INTO access_log (<APPEND_COLUMNS>) VALUES (...), ...` for `rows` rows: written out
/// here rather than by sea-query's `insert_many`, whose per-row models, values and query
/// building cost more than the database's own work on a batch of appends. Only constant
/// names and placeholders go into it; every value is bound.
fn append_sql(backend: sea_orm::DbBackend, rows: usize) -> String {
    use std::fmt::Write;
    let postgres = backend == sea_orm::DbBackend::Postgres;
    let mut sql = String::with_capacity(64 + 8 * APPEND_COLUMNS.len() * (rows + 1));
    sql.push_str("INSERT INTO access_log (");
    sql.push_str(&APPEND_COLUMNS.join(", "));
    sql.push_str(") VALUES ");
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..APPEND_COLUMNS.len() {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            match (postgres, APPEND_JSON.contains(&c)) {
                (false, _) => sql.push('?'),
                (true, false) => {
                    let _ = write!(sql, "${n}");
                }
                (true, true) => {
                    let _ = write!(sql, "CAST(${n} AS jsonb)");
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// A writer straight to a SQLite store's access-log file, on the calling thread: the access
/// log writer's path on SQLite. A batch is one immediate transaction running one cached,
/// single-row insert per entry, so no statement is compiled per batch (a multi-row insert's
/// text changes with its row count, and each compile also compiles the log's triggers) and no
/// other thread is woken for it. The values are bound as the pool binds them (the time as
/// RFC 3339, the id as 16 bytes, JSON as text), so the rows are the same either way.
///
/// It does not fold its WAL back into the file after a commit: a [`super::wal::WalFolder`],
/// on a connection of its own, does that without holding up appends.
pub struct FileAppender {
    conn: rusqlite::Connection,
}

impl FileAppender {
    /// Opens the log's file, which must exist (the store's migrations make it).
    pub fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA mmap_size = 0",
        )?;
        Ok(Self { conn })
    }

    /// The chain head as committed.
    pub fn head(&self) -> Result<Head, StoreError> {
        let (seq, entry_hash) = self
            .conn
            .prepare_cached("SELECT seq, entry_hash FROM audit_head WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => StoreError::Corrupt {
                    table: "audit_head",
                    column: "id",
                },
                e => e.into(),
            })?;
        Ok(Head { seq, entry_hash })
    }

    /// Appends rows, each at its place, in one transaction: all or none. The triggers refuse a
    /// row that does not continue the chain, move the head and fill the subject index, as
    /// for [`append`].
    pub fn append(&mut self, rows: &[(&NewRow, Place)]) -> Result<(), StoreError> {
        let txn = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = txn.prepare_cached(&append_sql(sea_orm::DbBackend::Sqlite, 1))?;
            for (r, p) in rows {
                let at = r.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
                insert.execute(rusqlite::params![
                    p.seq,
                    r.id.as_bytes().as_slice(),
                    at,
                    r.request_id,
                    r.client_addr,
                    r.principal_subject,
                    r.principal_organisation,
                    r.principal_roles,
                    r.purpose,
                    r.justification,
                    r.break_glass,
                    r.operation_name,
                    r.registered_operation,
                    r.query_hash,
                    r.outcome,
                    r.reads,
                    p.prev_hash,
                    p.entry_hash,
                    r.subjects,
                ])?;
            }
        }
        txn.commit()?;
        Ok(())
    }
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
    rows_of(conn, rows).await
}

/// One stored row borrowed from SQLite's own buffers: what `audit verify` hashes without
/// copying a value.
pub struct BorrowedRow<'a> {
    pub seq: i64,
    pub id: Uuid,
    /// As stored (RFC 3339).
    pub at: &'a str,
    pub request_id: &'a str,
    pub client_addr: Option<&'a str>,
    pub principal_subject: &'a str,
    pub principal_organisation: &'a str,
    pub principal_roles: &'a str,
    pub purpose: Option<&'a str>,
    pub justification: Option<&'a str>,
    pub break_glass: bool,
    pub operation_name: Option<&'a str>,
    pub registered_operation: Option<&'a str>,
    pub query_hash: &'a str,
    pub outcome: &'a str,
    pub reads: &'a str,
    pub subjects: Option<&'a str>,
    pub prev_hash: &'a str,
    pub entry_hash: &'a str,
}

/// Reads the entries at positions `[from_seq, to_seq)` of a SQLite file straight from SQLite,
/// read-only, calling `visit` with each one borrowed (no value is copied). Blocking: call it
/// from a blocking thread. A row that does not have the shape the hub writes is an error.
pub fn scan_sqlite_file(
    path: &std::path::Path,
    from_seq: i64,
    to_seq: i64,
    mut visit: impl FnMut(&BorrowedRow<'_>),
) -> Result<(), StoreError> {
    use rusqlite::types::ValueRef;
    let conn = super::open_read_only(path)?;
    // One pass over the pages in order: mapped, they need no read() each (the log's file has
    // small pages, so there are many). This connection lives for the scan only.
    conn.query_row("PRAGMA mmap_size = 2147418112", [], |_| Ok(()))?;
    let mut stmt = conn.prepare(
        "SELECT seq, id, at, request_id, client_addr, principal_subject, principal_organisation, \
         principal_roles, purpose, justification, break_glass, operation_name, \
         registered_operation, query_hash, outcome, reads, subjects, prev_hash, entry_hash \
         FROM access_log WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query([from_seq, to_seq])?;
    let corrupt = |column| StoreError::Corrupt {
        table: "access_log",
        column,
    };
    while let Some(row) = rows.next()? {
        let text = |i: usize, column: &'static str| -> Result<&str, StoreError> {
            match row.get_ref(i)? {
                ValueRef::Text(t) => std::str::from_utf8(t).map_err(|_| corrupt(column)),
                _ => Err(corrupt(column)),
            }
        };
        let opt = |i: usize, column: &'static str| -> Result<Option<&str>, StoreError> {
            match row.get_ref(i)? {
                ValueRef::Null => Ok(None),
                ValueRef::Text(t) => std::str::from_utf8(t)
                    .map(Some)
                    .map_err(|_| corrupt(column)),
                _ => Err(corrupt(column)),
            }
        };
        let id = match row.get_ref(1)? {
            ValueRef::Blob(b) => Uuid::from_slice(b).map_err(|_| corrupt("id"))?,
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| Uuid::parse_str(t).ok())
                .ok_or(corrupt("id"))?,
            _ => return Err(corrupt("id")),
        };
        visit(&BorrowedRow {
            seq: row.get_ref(0)?.as_i64().map_err(|_| corrupt("seq"))?,
            id,
            at: text(2, "at")?,
            request_id: text(3, "request_id")?,
            client_addr: opt(4, "client_addr")?,
            principal_subject: text(5, "principal_subject")?,
            principal_organisation: text(6, "principal_organisation")?,
            principal_roles: text(7, "principal_roles")?,
            purpose: opt(8, "purpose")?,
            justification: opt(9, "justification")?,
            break_glass: row
                .get_ref(10)?
                .as_i64()
                .map_err(|_| corrupt("break_glass"))?
                != 0,
            operation_name: opt(11, "operation_name")?,
            registered_operation: opt(12, "registered_operation")?,
            query_hash: text(13, "query_hash")?,
            outcome: text(14, "outcome")?,
            reads: text(15, "reads")?,
            subjects: opt(16, "subjects")?,
            prev_hash: text(17, "prev_hash")?,
            entry_hash: text(18, "entry_hash")?,
        });
    }
    Ok(())
}

/// The entries at positions `[from_seq, to_seq)`, in order.
pub async fn entries_between(
    conn: &impl ConnectionTrait,
    from_seq: i64,
    to_seq: i64,
) -> Result<Vec<LogRow>, StoreError> {
    let rows = access_log::Entity::find()
        .filter(access_log::Column::Seq.gte(from_seq))
        .filter(access_log::Column::Seq.lt(to_seq))
        .order_by_asc(access_log::Column::Seq)
        .all(conn)
        .await?;
    rows_of(conn, rows).await
}

/// Stored rows as [`LogRow`]s: subjects from the entry's own column, or for entries written
/// before it existed, from the subject index.
async fn rows_of(
    conn: &impl ConnectionTrait,
    rows: Vec<access_log::Model>,
) -> Result<Vec<LogRow>, StoreError> {
    let older: Vec<i64> = rows
        .iter()
        .filter(|r| r.subjects.is_none())
        .map(|r| r.seq)
        .collect();
    let mut indexed: std::collections::HashMap<i64, Vec<PersonId>> = Default::default();
    for chunk in older.chunks(5_000) {
        for s in access_log_subjects::Entity::find()
            .filter(access_log_subjects::Column::Seq.is_in(chunk.iter().copied()))
            .order_by_asc(access_log_subjects::Column::Seq)
            .order_by_asc(access_log_subjects::Column::PersonId)
            .all(conn)
            .await?
        {
            indexed
                .entry(s.seq)
                .or_default()
                .push(PersonId(s.person_id));
        }
    }
    let corrupt = |column| StoreError::Corrupt {
        table: "access_log",
        column,
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let subjects = match r.subjects {
            Some(v) => serde_json::from_value(v).map_err(|_| corrupt("subjects"))?,
            None => indexed.remove(&r.seq).unwrap_or_default(),
        };
        let roles =
            serde_json::from_value(r.principal_roles).map_err(|_| corrupt("principal_roles"))?;
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
            registered_operation: r.registered_operation,
            query_hash: r.query_hash,
            outcome: r.outcome,
            reads: r.reads,
            subjects,
            prev_hash: r.prev_hash,
            entry_hash: r.entry_hash,
        });
    }
    Ok(out)
}

/// What the board filters the log by; every field narrows.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub principal: Option<String>,
    /// `<kind>:<code>`, or a kind alone (`police`) for every organisation of that kind.
    pub organisation: Option<String>,
    pub purpose: Option<String>,
    pub break_glass: Option<bool>,
    /// Entries with a read flagged for the board (break-glass, a shielded person).
    pub flagged: Option<bool>,
    pub subject: Option<PersonId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only these entries.
    pub seqs: Option<Vec<i64>>,
    /// Entries that ran this registered operation.
    pub registered_operation: Option<String>,
}

/// Entries matching `filter`, newest first, before position `before` when given.
pub async fn search(
    conn: &impl ConnectionTrait,
    filter: &LogFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<LogRow>, StoreError> {
    use sea_orm::sea_query::Query;
    let mut q = access_log::Entity::find();
    if let Some(p) = &filter.principal {
        q = q.filter(access_log::Column::PrincipalSubject.eq(p.clone()));
    }
    if let Some(o) = &filter.organisation {
        q = if o.contains(':') {
            q.filter(access_log::Column::PrincipalOrganisation.eq(o.clone()))
        } else {
            q.filter(access_log::Column::PrincipalOrganisation.starts_with(format!("{o}:")))
        };
    }
    if let Some(p) = &filter.purpose {
        q = q.filter(access_log::Column::Purpose.eq(p.clone()));
    }
    if let Some(b) = filter.break_glass {
        q = q.filter(access_log::Column::BreakGlass.eq(b));
    }
    if let Some(flagged) = filter.flagged {
        use sea_orm::sea_query::ExprTrait;
        let reads = sea_orm::sea_query::Expr::col(access_log::Column::Reads)
            .cast_as(sea_orm::sea_query::Alias::new("text"))
            .like("%\"flag_for_board\"%");
        q = q.filter(if flagged { reads } else { reads.not() });
    }
    if let Some(op) = &filter.registered_operation {
        q = q.filter(access_log::Column::RegisteredOperation.eq(op.clone()));
    }
    if let Some(from) = filter.from {
        q = q.filter(access_log::Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(access_log::Column::At.lt(to));
    }
    if let Some(before) = before {
        q = q.filter(access_log::Column::Seq.lt(before));
    }
    if let Some(seqs) = &filter.seqs {
        q = q.filter(access_log::Column::Seq.is_in(seqs.iter().copied()));
    }
    if let Some(subject) = filter.subject {
        q = q.filter(
            access_log::Column::Seq.in_subquery(
                Query::select()
                    .column(access_log_subjects::Column::Seq)
                    .from(access_log_subjects::Entity)
                    .and_where(access_log_subjects::Column::PersonId.eq(subject.0))
                    .to_owned(),
            ),
        );
    }
    let rows = q
        .order_by_desc(access_log::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?;
    rows_of(conn, rows).await
}

/// How many entries the log holds.
pub async fn count(conn: &impl ConnectionTrait) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(access_log::Entity::find().count(conn).await?)
}

/// The board's finding on a break-glass read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub seq: i64,
    pub outcome: String,
    pub note: String,
    pub reviewed_by: String,
    pub reviewed_at: DateTime<Utc>,
}

/// The findings recorded for these entries.
pub async fn reviews(conn: &impl ConnectionTrait, seqs: &[i64]) -> Result<Vec<Review>, StoreError> {
    let mut out = Vec::new();
    for chunk in seqs.chunks(5_000) {
        for r in break_glass_reviews::Entity::find()
            .filter(break_glass_reviews::Column::Seq.is_in(chunk.iter().copied()))
            .all(conn)
            .await?
        {
            out.push(Review {
                seq: r.seq,
                outcome: r.outcome,
                note: r.note,
                reviewed_by: r.reviewed_by,
                reviewed_at: r.reviewed_at,
            });
        }
    }
    Ok(out)
}

/// Positions of break-glass entries with no finding yet, newest first.
pub async fn unreviewed_break_glass(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<i64>, StoreError> {
    use sea_orm::sea_query::Query;
    let rows = access_log::Entity::find()
        .select_only()
        .column(access_log::Column::Seq)
        .filter(access_log::Column::BreakGlass.eq(true))
        .filter(
            access_log::Column::Seq.not_in_subquery(
                Query::select()
                    .column(break_glass_reviews::Column::Seq)
                    .from(break_glass_reviews::Entity)
                    .to_owned(),
            ),
        )
        .order_by_desc(access_log::Column::Seq)
        .limit(limit)
        .into_tuple::<i64>()
        .all(conn)
        .await?;
    Ok(rows)
}

/// Records a finding; `false` when the entry already has one (findings are not rewritten).
pub async fn insert_review(conn: &impl ConnectionTrait, r: &Review) -> Result<bool, StoreError> {
    if !reviews(conn, &[r.seq]).await?.is_empty() {
        return Ok(false);
    }
    break_glass_reviews::Entity::insert(break_glass_reviews::ActiveModel {
        seq: Set(r.seq),
        outcome: Set(r.outcome.clone()),
        note: Set(r.note.clone()),
        reviewed_by: Set(r.reviewed_by.clone()),
        reviewed_at: Set(r.reviewed_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(true)
}

/// A signed checkpoint of the chain head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub entry_hash: String,
    pub at: DateTime<Utc>,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
}

/// Stores a checkpoint.
pub async fn insert_checkpoint(
    conn: &impl ConnectionTrait,
    c: &Checkpoint,
) -> Result<(), StoreError> {
    audit_checkpoints::Entity::insert(audit_checkpoints::ActiveModel {
        seq: Set(c.seq),
        entry_hash: Set(c.entry_hash.clone()),
        at: Set(c.at),
        public_key: Set(c.public_key.clone()),
        signature: Set(c.signature.clone()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Checkpoints at positions `from` and after, in order.
pub async fn checkpoints(
    conn: &impl ConnectionTrait,
    from: i64,
) -> Result<Vec<Checkpoint>, StoreError> {
    Ok(audit_checkpoints::Entity::find()
        .filter(audit_checkpoints::Column::Seq.gte(from))
        .order_by_asc(audit_checkpoints::Column::Seq)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| Checkpoint {
            seq: m.seq,
            entry_hash: m.entry_hash,
            at: m.at,
            public_key: m.public_key,
            signature: m.signature,
        })
        .collect())
}

/// The position of the newest checkpoint (0 when there is none).
pub async fn last_checkpoint(conn: &impl ConnectionTrait) -> Result<i64, StoreError> {
    Ok(audit_checkpoints::Entity::find()
        .order_by_desc(audit_checkpoints::Column::Seq)
        .one(conn)
        .await?
        .map_or(0, |m| m.seq))
}
