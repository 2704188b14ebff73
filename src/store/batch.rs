//! The writes of one sync batch, in the one transaction that also stores the connector's
//! cursor: through sea-orm on PostgreSQL (and an in-memory SQLite database), and on a SQLite
//! file through a rusqlite connection of the sync engine's own, on a blocking thread, with
//! one cached prepared statement per table executed once a row. Through the pool, a batch's
//! rows cost a multi-row statement built, prepared, bound value by value and handed to a
//! worker thread per thousand rows; that overhead was most of the sync's write time.
//!
//! The rusqlite transaction takes SQLite's write lock at `BEGIN IMMEDIATE`, before the batch's
//! linkage reads, so the reads the engine makes through the pool meanwhile see exactly the
//! state the transaction builds on: no other connection can commit until it ends. The reads
//! that must see the batch's own writes go through the transaction itself (the `*_after`
//! methods). Values are encoded as sqlx encodes them (UUIDs as 16-byte blobs, times as
//! RFC 3339 text, dates as `YYYY-MM-DD`, JSON as text), so either path reads what the other
//! wrote.
//!
//! The writer's statements do not show in the pool's statement counters ([`super::StoreStats`]).
//!
//! Limits: imports `model` only; the connection never attaches the access log, which sync
//! does not write.

mod reads;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::StoreError;
use super::graph::normalise_name;
use super::sync::{self as rows, Declared, MatchReviewRow, Quarantined, RecordRow, Run};
use crate::model::{
    Address, Fact, Identifier, NotificationKind, OrganisationId, Person, PersonId, PersonName,
    Relationship, SourceRecordId,
};

/// How the sync engine's writer sets its connection (see [`Writer::open`]).
pub(crate) const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = OFF; PRAGMA cache_size = -16384; PRAGMA mmap_size = 134217728; \
     PRAGMA wal_autocheckpoint = 16384; PRAGMA temp_store = memory;";

/// The sync engine's own connection to a SQLite file, kept between batches, and a thread of
/// its own that folds the file's write-ahead log back into it after commits, while the
/// writer goes on: folded only inline, by the commit that takes the log past the checkpoint
/// interval, the copy and its sync to disk held up every batch behind it. The commit still
/// folds inline at the interval, but only the frames the thread has not yet copied: without
/// that step the log never runs empty at the start of a transaction, so it never restarts
/// from its beginning and grows for as long as the load goes on. The thread ends with the
/// writer.
pub struct Writer {
    conn: Connection,
    /// Wakes the folding thread; `None` when the thread could not start, and the writer folds
    /// at the interval alone.
    committed: Option<super::wal::WalFolder>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens a SQLite file for writing, set as the pool's connections are (WAL, a busy
    /// timeout, `synchronous = NORMAL`, the same cache, memory map and checkpoint interval: at
    /// SQLite's default of 1,000 pages, nearly every batch's commit would also checkpoint the
    /// write-ahead log), but with foreign keys not enforced. The engine writes a batch's
    /// persons and organisations before the rows naming them, in the same transaction, and
    /// deletes no row another references; enforcing the keys would look up the parent of
    /// every row it inserts, a large share of the cost of writing a batch. The sync tests
    /// check every key after syncing (`PRAGMA foreign_key_check`), and PostgreSQL enforces
    /// them.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(WRITER_PRAGMAS)?;
        conn.set_prepared_statement_cache_capacity(64);
        let committed = match super::wal::WalFolder::start(path, "kinship-sync-wal", Duration::ZERO)
        {
            Ok(folds) => Some(folds),
            Err(e) => {
                tracing::warn!(error = %e, "sync writer: no thread to fold the WAL; commits fold it");
                None
            }
        };
        Ok(Self { conn, committed })
    }

    /// Asks the folding thread for a fold after a commit.
    fn committed(&self) {
        if let Some(c) = &self.committed {
            c.committed();
        }
    }
}

/// One batch's transaction.
pub enum BatchTxn {
    Orm(DatabaseTransaction),
    Sqlite(SqliteTxn),
}

/// A transaction open on the engine's own SQLite connection. The connection moves to a
/// blocking thread for each step and back.
pub struct SqliteTxn {
    conn: Option<Writer>,
}

impl SqliteTxn {
    /// Begins, taking the write lock now.
    pub async fn begin(writer: Writer) -> Result<Self, StoreError> {
        let mut t = Self { conn: Some(writer) };
        t.run(|c| Ok(c.execute_batch("BEGIN IMMEDIATE")?)).await?;
        Ok(t)
    }

    async fn run<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let writer = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Task("the sync writer was lost".into()))?;
        let (writer, out) = tokio::task::spawn_blocking(move || {
            let out = f(&writer.conn);
            (writer, out)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        // After a failed step the transaction is not to be trusted: the connection is dropped
        // (which rolls it back) and the engine opens a new one.
        if out.is_ok() {
            self.conn = Some(writer);
        }
        out
    }

    /// Commits, handing the connection back for the next batch.
    pub async fn commit(mut self) -> Result<Writer, StoreError> {
        self.run(|c| Ok(c.execute_batch("COMMIT")?)).await?;
        let writer = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Task("the sync writer was lost".into()))?;
        writer.committed();
        Ok(writer)
    }
}

pub(super) fn uuid(u: &Uuid) -> &[u8] {
    u.as_bytes().as_slice()
}

pub(super) fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339()
}

fn date(d: Option<chrono::NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

pub(super) fn uuid_col(row: &rusqlite::Row<'_>, i: usize) -> Result<Uuid, rusqlite::Error> {
    use rusqlite::types::ValueRef;
    let corrupt =
        || rusqlite::Error::InvalidColumnType(i, "uuid".into(), rusqlite::types::Type::Blob);
    match row.get_ref(i)? {
        ValueRef::Blob(b) => Uuid::from_slice(b).map_err(|_| corrupt()),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(corrupt),
        _ => Err(corrupt()),
    }
}

pub(super) fn opt_uuid_col(
    row: &rusqlite::Row<'_>,
    i: usize,
) -> Result<Option<Uuid>, rusqlite::Error> {
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => uuid_col(row, i).map(Some),
    }
}

/// Keys once each, in order: a key asked twice must not return its rows twice.
fn unique(keys: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

impl BatchTxn {
    /// Commits the batch.
    pub async fn commit(self) -> Result<Option<Writer>, StoreError> {
        match self {
            Self::Orm(t) => {
                t.commit().await?;
                Ok(None)
            }
            Self::Sqlite(t) => Ok(Some(t.commit().await?)),
        }
    }

    /// Makes sure these organisations exist, named by their ids until reference data names
    /// them.
    pub async fn ensure_organisations(
        &mut self,
        ids: Vec<OrganisationId>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => rows::ensure_organisations(t, &ids).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    execute_each(
                        c,
                        "INSERT INTO organisations (id, kind, name) VALUES (?1, ?2, ?1) \
                         ON CONFLICT (id) DO NOTHING",
                        &ids,
                        |s, o| s.execute(params![o.to_string(), o.kind().to_string()]),
                    )
                })
                .await
            }
        }
    }

    /// Inserts person nodes.
    pub async fn persons(
        &mut self,
        persons: Vec<Person>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => super::load::persons(t, &persons, now).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    let now = time(&now);
                    execute_each(
                        c,
                        "INSERT INTO persons (id, date_of_birth, sex, is_child, shielded, \
                         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        &persons,
                        |s, p| {
                            s.execute(params![
                                uuid(&p.id.0),
                                date(p.date_of_birth),
                                p.sex.as_str(),
                                p.is_child,
                                p.shielded,
                                now
                            ])
                        },
                    )
                })
                .await
            }
        }
    }

    /// Deletes what was derived from these records (see [`rows::delete_derived`]).
    pub async fn delete_derived(&mut self, ids: Vec<SourceRecordId>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        match self {
            Self::Orm(t) => rows::delete_derived(t, &ids).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    for table in [
                        "person_names",
                        "person_identifiers",
                        "addresses",
                        "facts",
                        "relationships",
                        "source_relationships",
                    ] {
                        execute_each(
                            c,
                            &format!("DELETE FROM {table} WHERE source_record_id = ?1"),
                            &ids,
                            |s, id| s.execute([uuid(&id.0)]),
                        )?;
                    }
                    Ok(())
                })
                .await
            }
        }
    }

    /// Inserts new source records and overwrites changed ones (see [`rows::upsert_records`]).
    pub async fn upsert_records(&mut self, records: Vec<RecordRow>) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => rows::upsert_records(t, &records).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    execute_each(
                        c,
                        "INSERT INTO source_records (id, connector, organisation_id, source_key, \
                         fetched_at, content_hash, payload, person_id, link_method, subject_key, \
                         envelope, updated_at, link_score, link_detail) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?5, ?12, ?13) \
                         ON CONFLICT (connector, source_key) DO UPDATE SET \
                         organisation_id = excluded.organisation_id, \
                         fetched_at = excluded.fetched_at, \
                         content_hash = excluded.content_hash, payload = excluded.payload, \
                         person_id = excluded.person_id, link_method = excluded.link_method, \
                         subject_key = excluded.subject_key, envelope = excluded.envelope, \
                         updated_at = excluded.updated_at, \
                         link_score = COALESCE(excluded.link_score, source_records.link_score), \
                         link_detail = COALESCE(excluded.link_detail, source_records.link_detail)",
                        &records,
                        |s, r| {
                            s.execute(params![
                                uuid(&r.id.0),
                                r.connector,
                                r.organisation.to_string(),
                                r.source_key,
                                time(&r.fetched_at),
                                r.content_hash,
                                r.raw,
                                r.person_id.as_ref().map(|p| uuid(&p.0)),
                                r.link_method,
                                r.subject_key,
                                r.envelope,
                                r.link_score,
                                r.link_detail,
                            ])
                        },
                    )
                })
                .await
            }
        }
    }

    /// Inserts review rows.
    pub async fn insert_reviews(&mut self, reviews: Vec<MatchReviewRow>) -> Result<(), StoreError> {
        if reviews.is_empty() {
            return Ok(());
        }
        match self {
            Self::Orm(t) => rows::insert_reviews(t, &reviews).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    execute_each(
                        c,
                        "INSERT INTO match_reviews (id, source_record_id, record_person_id, \
                         candidate_person_id, score, detail, status, created_at, decided_at, \
                         decided_by, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        &reviews,
                        |s, r| {
                            s.execute(params![
                                uuid(&r.id),
                                uuid(&r.source_record.0),
                                uuid(&r.record_person.0),
                                uuid(&r.candidate_person.0),
                                r.score,
                                r.detail,
                                r.status,
                                time(&r.created_at),
                                r.decided_at.as_ref().map(time),
                                r.decided_by,
                                r.note,
                            ])
                        },
                    )
                })
                .await
            }
        }
    }

    /// Records of a connector still waiting for the person of one of these subjects (see
    /// [`rows::waiting_for`]), as this transaction sees them.
    pub async fn waiting_for_after(
        &mut self,
        connector: &str,
        subject_keys: Vec<String>,
    ) -> Result<Vec<(SourceRecordId, String, String)>, StoreError> {
        match self {
            Self::Orm(t) => rows::waiting_for(t, connector, &subject_keys).await,
            Self::Sqlite(t) => {
                let connector = connector.to_owned();
                let keys = unique(subject_keys);
                t.run(move |c| {
                    let mut s = c.prepare_cached(
                        "SELECT id, subject_key, envelope FROM source_records \
                         WHERE connector = ?1 AND subject_key = ?2 AND person_id IS NULL",
                    )?;
                    let mut out = Vec::new();
                    for k in &keys {
                        let mut q = s.query(params![connector, k])?;
                        while let Some(row) = q.next()? {
                            let id = uuid_col(row, 0)?;
                            let subject: Option<String> = row.get(1)?;
                            let envelope: Option<String> = row.get(2)?;
                            if let (Some(s), Some(e)) = (subject, envelope) {
                                out.push((SourceRecordId(id), s, e));
                            }
                        }
                    }
                    Ok(out)
                })
                .await
            }
        }
    }

    /// Links records to a person.
    pub async fn set_person(
        &mut self,
        ids: Vec<SourceRecordId>,
        person: PersonId,
        method: &'static str,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => rows::set_person(t, &ids, person, method).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    execute_each(
                        c,
                        "UPDATE source_records SET person_id = ?1, link_method = ?2 WHERE id = ?3",
                        &ids,
                        |s, id| s.execute(params![uuid(&person.0), method, uuid(&id.0)]),
                    )
                })
                .await
            }
        }
    }

    /// The person each of these source keys is linked to, as this transaction sees them.
    pub async fn persons_of_keys_after(
        &mut self,
        connector: &str,
        keys: Vec<String>,
    ) -> Result<HashMap<String, PersonId>, StoreError> {
        match self {
            Self::Orm(t) => rows::persons_of_keys(t, connector, &keys).await,
            Self::Sqlite(t) => {
                let connector = connector.to_owned();
                let keys = unique(keys);
                t.run(move |c| {
                    let mut s = c.prepare_cached(
                        "SELECT person_id FROM source_records WHERE connector = ?1 AND source_key = ?2",
                    )?;
                    let mut out = HashMap::new();
                    for k in keys {
                        let person = s
                            .query_row(params![connector, k], |row| opt_uuid_col(row, 0))
                            .optional()?
                            .flatten();
                        if let Some(p) = person {
                            out.insert(k, PersonId(p));
                        }
                    }
                    Ok(out)
                })
                .await
            }
        }
    }

    /// Unresolved declarations pointing at these keys of a connector, with the declaring
    /// record's person and organisation (see [`rows::unresolved_pointing_at`]), as this
    /// transaction sees them.
    pub async fn unresolved_pointing_at_after(
        &mut self,
        connector: &str,
        keys: Vec<String>,
    ) -> Result<Vec<(Declared, Option<PersonId>, String)>, StoreError> {
        match self {
            Self::Orm(t) => rows::unresolved_pointing_at(t, connector, &keys).await,
            Self::Sqlite(t) => {
                let connector = connector.to_owned();
                let keys = unique(keys);
                t.run(move |c| {
                    let mut s = c.prepare_cached(
                        "SELECT d.id, d.source_record_id, d.related_key, d.kind, \
                         d.parental_responsibility, d.resolved, r.person_id, r.organisation_id \
                         FROM source_relationships d \
                         JOIN source_records r ON r.id = d.source_record_id \
                         WHERE d.connector = ?1 AND d.related_key = ?2 AND d.resolved = 0",
                    )?;
                    let mut out = Vec::new();
                    for k in &keys {
                        let mut q = s.query(params![connector, k])?;
                        while let Some(row) = q.next()? {
                            out.push((
                                Declared {
                                    id: uuid_col(row, 0)?,
                                    source_record: SourceRecordId(uuid_col(row, 1)?),
                                    connector: connector.clone(),
                                    related_key: row.get(2)?,
                                    kind: row.get(3)?,
                                    parental_responsibility: row.get(4)?,
                                    resolved: row.get(5)?,
                                },
                                opt_uuid_col(row, 6)?.map(PersonId),
                                row.get(7)?,
                            ));
                        }
                    }
                    Ok(out)
                })
                .await
            }
        }
    }

    /// Inserts the rows derived from the batch's records: names, identifiers, addresses,
    /// facts (queueing the notifications facts call for, so the outbox holds exactly the
    /// facts that committed) and relationships between persons.
    pub async fn derived(
        &mut self,
        names: Vec<PersonName>,
        identifiers: Vec<Identifier>,
        addresses: Vec<Address>,
        facts: Vec<Fact>,
        links: Vec<Relationship>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => {
                super::load::names(t, &names).await?;
                super::load::identifiers(t, &identifiers).await?;
                super::load::addresses(t, &addresses).await?;
                super::load::facts(t, &facts).await?;
                super::notifications::enqueue(t, &facts, now).await?;
                super::load::relationships(t, &links).await
            }
            Self::Sqlite(t) => {
                t.run(move |c| {
                    write_names(c, &names)?;
                    write_identifiers(c, &identifiers)?;
                    write_addresses(c, &addresses)?;
                    write_facts(c, &facts, now)?;
                    write_relationships(c, &links)
                })
                .await
            }
        }
    }

    /// Rebuilds every derived family and household (see
    /// [`super::families::rebuild_everything`]).
    pub async fn rebuild_families_everything(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => super::families::rebuild_everything(t, now).await,
            Self::Sqlite(t) => {
                t.run(move |c| super::families::rebuild_everything_on(c, now))
                    .await
            }
        }
    }

    /// Queues persons whose families and households need rebuilding.
    pub async fn enqueue_families(
        &mut self,
        persons: Vec<PersonId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => super::families::enqueue(t, &persons, now).await,
            Self::Sqlite(t) => {
                t.run(move |c| {
                    let now = time(&now);
                    execute_each(
                        c,
                        "INSERT INTO family_queue (person_id, queued_at) VALUES (?1, ?2) \
                         ON CONFLICT (person_id) DO NOTHING",
                        &persons,
                        |s, p| s.execute(params![uuid(&p.0), now]),
                    )
                })
                .await
            }
        }
    }

    /// Stores declared relationships, marks earlier ones resolved, quarantines the batch's
    /// bad records and resolves open quarantine entries of the keys that now landed.
    pub async fn declarations_and_quarantine(
        &mut self,
        connector: &str,
        declared: Vec<Declared>,
        now_resolved: Vec<Uuid>,
        quarantine: Vec<Quarantined>,
        landed: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => {
                rows::insert_declared(t, &declared).await?;
                rows::mark_resolved(t, &now_resolved).await?;
                rows::quarantine(t, &quarantine).await?;
                rows::resolve_quarantined(t, connector, &landed, now).await
            }
            Self::Sqlite(t) => {
                let connector = connector.to_owned();
                t.run(move |c| {
                    execute_each(
                        c,
                        "INSERT INTO source_relationships (id, source_record_id, connector, \
                         related_key, kind, parental_responsibility, resolved) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        &declared,
                        |s, d| {
                            s.execute(params![
                                uuid(&d.id),
                                uuid(&d.source_record.0),
                                d.connector,
                                d.related_key,
                                d.kind,
                                d.parental_responsibility,
                                d.resolved,
                            ])
                        },
                    )?;
                    execute_each(
                        c,
                        "UPDATE source_relationships SET resolved = 1 WHERE id = ?1",
                        &now_resolved,
                        |s, id| s.execute([uuid(id)]),
                    )?;
                    execute_each(
                        c,
                        "INSERT INTO quarantine (id, connector, source_key, reason, raw, \
                         received_at, run_id, state, attempts, resolved_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        &quarantine,
                        |s, q| {
                            s.execute(params![
                                uuid(&q.id),
                                q.connector,
                                q.source_key,
                                q.reason,
                                q.raw,
                                time(&q.received_at),
                                q.run_id.as_ref().map(uuid),
                                q.state,
                                q.attempts,
                                q.resolved_at.as_ref().map(time),
                            ])
                        },
                    )?;
                    // The open entries of the connector are read once and matched here: a
                    // probe per landed key would walk them all for each key.
                    let open: Vec<(Uuid, String)> = {
                        let mut s = c.prepare_cached(
                            "SELECT id, source_key FROM quarantine \
                             WHERE connector = ?1 AND state = 'open' AND source_key IS NOT NULL",
                        )?;
                        let rows = s.query_map([&connector], |row| {
                            Ok((uuid_col(row, 0)?, row.get::<_, String>(1)?))
                        })?;
                        rows.collect::<Result<_, _>>()?
                    };
                    if !open.is_empty() {
                        let landed: std::collections::HashSet<&str> =
                            landed.iter().map(String::as_str).collect();
                        let mut s = c.prepare_cached(
                            "UPDATE quarantine SET state = 'resolved', resolved_at = ?1 WHERE id = ?2",
                        )?;
                        let now = time(&now);
                        for (id, key) in &open {
                            if landed.contains(key.as_str()) {
                                s.execute(params![now, uuid(id)])?;
                            }
                        }
                    }
                    Ok(())
                })
                .await
            }
        }
    }

    /// Stores the connector's cursor (when the batch has one) and the run's counters.
    pub async fn cursor_and_run(
        &mut self,
        connector: &str,
        cursor: Option<String>,
        run: Run,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Orm(t) => {
                if let Some(next) = &cursor {
                    rows::set_cursor(t, connector, next, now).await?;
                }
                rows::save_run(t, &run).await
            }
            Self::Sqlite(t) => {
                let connector = connector.to_owned();
                t.run(move |c| {
                    if let Some(next) = &cursor {
                        c.prepare_cached(
                            "INSERT INTO sync_cursors (connector, cursor, updated_at) \
                             VALUES (?1, ?2, ?3) ON CONFLICT (connector) DO UPDATE SET \
                             cursor = excluded.cursor, updated_at = excluded.updated_at",
                        )?
                        .execute(params![connector, next, time(&now)])?;
                    }
                    c.prepare_cached(
                        "INSERT INTO sync_runs (id, connector, started_at, finished_at, status, \
                         batches, records_new, records_changed, records_unchanged, \
                         records_quarantined, retries, error) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                         ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, \
                         status = excluded.status, batches = excluded.batches, \
                         records_new = excluded.records_new, \
                         records_changed = excluded.records_changed, \
                         records_unchanged = excluded.records_unchanged, \
                         records_quarantined = excluded.records_quarantined, \
                         retries = excluded.retries, error = excluded.error",
                    )?
                    .execute(params![
                        uuid(&run.id),
                        run.connector,
                        time(&run.started_at),
                        run.finished_at.as_ref().map(time),
                        run.status,
                        run.batches,
                        run.new,
                        run.changed,
                        run.unchanged,
                        run.quarantined,
                        run.retries,
                        run.error,
                    ])?;
                    Ok(())
                })
                .await
            }
        }
    }
}

/// Executes one cached statement once for each item, bound by `bind`.
fn execute_each<T>(
    c: &Connection,
    sql: &str,
    items: impl IntoIterator<Item = T>,
    mut bind: impl FnMut(&mut rusqlite::CachedStatement<'_>, T) -> rusqlite::Result<usize>,
) -> Result<(), StoreError> {
    let mut s = c.prepare_cached(sql)?;
    for item in items {
        bind(&mut s, item)?;
    }
    Ok(())
}

fn write_names(c: &Connection, names: &[PersonName]) -> Result<(), StoreError> {
    execute_each(
        c,
        "INSERT INTO person_names (id, person_id, given, family, given_norm, family_norm, usage, \
         organisation_id, source_record_id, date_of_birth) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        names,
        |s, n| {
            s.execute(params![
                uuid(&Uuid::now_v7()),
                uuid(&n.person_id.0),
                n.given,
                n.family,
                normalise_name(&n.given),
                normalise_name(&n.family),
                n.usage,
                n.organisation.to_string(),
                n.source_record.as_ref().map(|r| uuid(&r.0)),
                date(n.date_of_birth),
            ])
        },
    )
}

fn write_identifiers(c: &Connection, ids: &[Identifier]) -> Result<(), StoreError> {
    execute_each(
        c,
        "INSERT INTO person_identifiers (id, person_id, system, value, verified, \
         organisation_id, source_record_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        ids,
        |s, i| {
            s.execute(params![
                uuid(&Uuid::now_v7()),
                uuid(&i.person_id.0),
                i.system.as_str(),
                i.value,
                i.verified,
                i.organisation.to_string(),
                i.source_record.as_ref().map(|r| uuid(&r.0)),
            ])
        },
    )
}

fn write_addresses(c: &Connection, addresses: &[Address]) -> Result<(), StoreError> {
    execute_each(
        c,
        "INSERT INTO addresses (id, person_id, line1, line2, town, postcode, postcode_norm, \
         uprn, usage, valid_from, valid_to, organisation_id, source_record_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        addresses,
        |s, a| {
            s.execute(params![
                uuid(&Uuid::now_v7()),
                uuid(&a.person_id.0),
                a.line1,
                a.line2,
                a.town,
                a.postcode,
                Address::normalise_postcode(&a.postcode),
                a.uprn,
                a.usage,
                date(a.valid_from),
                date(a.valid_to),
                a.organisation.to_string(),
                a.source_record.as_ref().map(|r| uuid(&r.0)),
            ])
        },
    )
}

fn write_facts(c: &Connection, facts: &[Fact], now: DateTime<Utc>) -> Result<(), StoreError> {
    execute_each(
        c,
        "INSERT INTO facts (id, person_id, agency, organisation_id, category, kind, occurred_at, \
         recorded_at, summary, payload, source_record_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        facts,
        |s, f| {
            s.execute(params![
                uuid(&f.id.0),
                uuid(&f.person_id.0),
                f.agency.as_str(),
                f.organisation.to_string(),
                f.category.as_str(),
                f.kind,
                time(&f.occurred_at),
                time(&f.recorded_at),
                f.summary,
                serde_json::to_string(&f.payload).unwrap_or_default(),
                f.source_record.as_ref().map(|r| uuid(&r.0)),
            ])
        },
    )?;
    let mut s = c.prepare_cached(
        "INSERT INTO notification_events (fact_id, person_id, kind, occurred_at, queued_at, \
         expanded_at) VALUES (?1, ?2, ?3, ?4, ?5, NULL) ON CONFLICT (fact_id) DO NOTHING",
    )?;
    let now = time(&now);
    for f in facts {
        if let Some(kind) = NotificationKind::for_fact(f) {
            s.execute(params![
                uuid(&f.id.0),
                uuid(&f.person_id.0),
                kind.as_str(),
                time(&f.occurred_at),
                now,
            ])?;
        }
    }
    Ok(())
}

fn write_relationships(c: &Connection, links: &[Relationship]) -> Result<(), StoreError> {
    execute_each(
        c,
        "INSERT INTO relationships (id, person_id, related_person_id, kind, \
         parental_responsibility, organisation_id, source_record_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        links,
        |s, r| {
            s.execute(params![
                uuid(&Uuid::now_v7()),
                uuid(&r.person_id.0),
                uuid(&r.related_person.0),
                r.kind.as_str(),
                r.parental_responsibility,
                r.organisation.to_string(),
                r.source_record.as_ref().map(|s| uuid(&s.0)),
            ])
        },
    )
}
