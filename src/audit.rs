//! The access log: one entry per request that touched personal data, written before the
//! response leaves, append-only and hash-chained.
//!
//! Each entry's hash is SHA-256 over a canonical encoding of the entry (its position, its
//! fields and the previous entry's hash), so changing, removing, inserting or reordering an
//! entry breaks the chain at that point and [`AccessLog::verify`] names it.
//!
//! Entries are written by one writer task per log, which takes every entry waiting when it
//! starts a transaction and appends them together (group commit): each request still waits
//! until its own entry is committed, but concurrent requests share one transaction and one
//! lock of the chain head instead of queueing for one each.
//!
//! Limits: imports `store` and `model` only. It never decides anything; the gate hands it
//! finished entries.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sea_orm::TransactionTrait;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{DataCategory, OrganisationId, PersonId, Principal, Purpose};
use crate::store::log::{self as rows, Head, LogRow};
use crate::store::{Store, StoreError};

/// One category of one subject's data in one request, and what was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Read {
    pub subject: PersonId,
    pub category: DataCategory,
    /// The organisation that holds the data.
    pub owner: OrganisationId,
    /// The decision's reason code (`permitted`, `break_glass`, `consent_required`, ...).
    pub decision: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub clause: Option<String>,
    /// Items released (rows, facts).
    pub released: u64,
    /// Items withheld.
    pub withheld: u64,
    /// The protocol was past its review date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub review_overdue: bool,
    /// The owner must be told.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_owner: bool,
    /// What must follow (`record_justification`, `flag_for_board`, `record_consent_refusal`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obligations: Vec<String>,
}

/// How an entry's `bases` name a clause: `"<protocol> <version> <clause>"`.
pub fn clause_key(protocol: &str, version: &str, clause: &str) -> String {
    format!("{protocol} {version} {clause}")
}

/// An entry before it is chained.
#[derive(Clone, Debug)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub principal: Principal,
    pub purpose: Option<Purpose>,
    pub justification: Option<String>,
    pub operation_name: Option<String>,
    /// The id of the registered operation that ran, if it was one.
    pub registered_operation: Option<String>,
    /// SHA-256 of the query text, hex.
    pub query_hash: String,
    /// `ok`, or the error code that failed the request.
    pub outcome: String,
    /// The protocol versions in force (the rule set's fingerprint).
    pub rules: String,
    pub reads: Vec<Read>,
    /// The lawful basis of each clause that released something, keyed by [`clause_key`]:
    /// recorded once per entry rather than once per read.
    pub bases: std::collections::BTreeMap<String, String>,
    /// What the request did besides reading: consent recorded, explanations asked for.
    pub actions: Vec<serde_json::Value>,
}

impl Entry {
    /// Whether any read was a break-glass release.
    pub fn break_glass(&self) -> bool {
        self.reads.iter().any(|r| r.decision == "break_glass")
    }

    /// Every subject read, refused or acted on, sorted and de-duplicated.
    pub fn subjects(&self) -> Vec<PersonId> {
        let mut s: Vec<PersonId> = self.reads.iter().map(|r| r.subject).collect();
        s.extend(
            self.actions
                .iter()
                .filter_map(|a| a.get("subject")?.as_str()?.parse::<PersonId>().ok()),
        );
        s.sort();
        s.dedup();
        s
    }
}

/// Why the log could not be written or checked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("access log unavailable")]
    Store(#[from] StoreError),
    #[error("access log unavailable")]
    Db(#[from] sea_orm::DbErr),
    /// The writer could not commit the batch the entry was in; the detail is logged there.
    #[error("access log unavailable")]
    Writer,
    /// Verification stopped (a worker task failed).
    #[error("verification stopped: {0}")]
    Verify(String),
}

/// SHA-256 of a query text, hex: how entries name what ran without storing its variables.
pub fn query_hash(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

/// The canonical encoding's fields between `seq` and `prev_hash`, in their fixed order (see
/// [`place_hash`]). Generic over how the JSON-valued fields are held: decoded, or as the
/// compact text the hub wrote.
#[derive(Serialize)]
struct Body<'a, R: Serialize + ?Sized, S: Serialize + ?Sized, J: Serialize + ?Sized> {
    id: &'a Uuid,
    at: String,
    request_id: &'a str,
    client_addr: Option<&'a str>,
    principal_subject: &'a str,
    principal_organisation: &'a str,
    principal_roles: &'a R,
    purpose: Option<&'a str>,
    justification: Option<&'a str>,
    break_glass: bool,
    operation_name: Option<&'a str>,
    // Absent from entries written before operations were registered, so their hashes
    // are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_operation: Option<&'a str>,
    query_hash: &'a str,
    outcome: &'a str,
    reads: &'a J,
    subjects: &'a S,
}

fn canonical_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The hash of an entry at `seq` after `prev_hash`, hex, given its [`Body`] as JSON.
///
/// The canonical encoding hashed into the chain is every stored field but the entry's own
/// hash, in a fixed order, as compact JSON with sorted object keys:
/// `{"seq":<seq>,<the body's fields>,"prev_hash":<prev_hash>}`. The body does not depend on
/// the entry's place, so it is encoded once, when the entry is made, and the writer only
/// hashes it between its place's two fields.
fn place_hash(seq: i64, body: &[u8], prev_hash: &str) -> String {
    // The body is a JSON object (`{...}`) with at least `id`: its fields are what lies
    // between the brackets.
    let fields = body
        .strip_prefix(b"{")
        .and_then(|b| b.strip_suffix(b"}"))
        .unwrap_or(body);
    let mut h = Sha256::new();
    h.update(b"{\"seq\":");
    h.update(seq.to_string().as_bytes());
    h.update(b",");
    h.update(fields);
    h.update(b",\"prev_hash\":");
    // serde_json's maps are sorted (no preserve_order), so the bytes do not depend on how a
    // database returned the JSON columns; the string is escaped as serde_json escapes it.
    h.update(serde_json::to_vec(prev_hash).unwrap_or_default());
    h.update(b"}");
    hex::encode(h.finalize())
}

/// The [`Body`] of a row, as JSON.
fn body(row: &LogRow) -> Vec<u8> {
    let b = Body {
        id: &row.id,
        at: canonical_at(&row.at),
        request_id: &row.request_id,
        client_addr: row.client_addr.as_deref(),
        principal_subject: &row.principal_subject,
        principal_organisation: &row.principal_organisation,
        principal_roles: row.principal_roles.as_slice(),
        purpose: row.purpose.as_deref(),
        justification: row.justification.as_deref(),
        break_glass: row.break_glass,
        operation_name: row.operation_name.as_deref(),
        registered_operation: row.registered_operation.as_deref(),
        query_hash: &row.query_hash,
        outcome: &row.outcome,
        reads: &row.reads,
        subjects: row.subjects.as_slice(),
    };
    serde_json::to_vec(&b).unwrap_or_default()
}

/// The hash of a row borrowed from SQLite, when it is the one stored: `None` when anything
/// differs (the caller then checks the entry the slow way, which names what changed).
fn borrowed_hash(row: &rows::BorrowedRow<'_>) -> Option<String> {
    use serde_json::value::RawValue;
    fn raw(text: &str) -> Option<&RawValue> {
        serde_json::from_str(text).ok()
    }
    let at = DateTime::parse_from_rfc3339(row.at)
        .ok()?
        .with_timezone(&Utc);
    let b = Body {
        id: &row.id,
        at: canonical_at(&at),
        request_id: row.request_id,
        client_addr: row.client_addr,
        principal_subject: row.principal_subject,
        principal_organisation: row.principal_organisation,
        principal_roles: raw(row.principal_roles)?,
        purpose: row.purpose,
        justification: row.justification,
        break_glass: row.break_glass,
        operation_name: row.operation_name,
        registered_operation: row.registered_operation,
        query_hash: row.query_hash,
        outcome: row.outcome,
        reads: raw(row.reads)?,
        subjects: raw(row.subjects?)?,
    };
    Some(place_hash(
        row.seq,
        &serde_json::to_vec(&b).ok()?,
        row.prev_hash,
    ))
}

/// The links of `[from, to)` read straight from a SQLite file, or `None` when some entry
/// there needs the slow check.
fn borrowed_links(
    path: &std::path::Path,
    from: i64,
    to: i64,
) -> Result<Option<Vec<Link>>, StoreError> {
    let mut links = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0));
    let mut all_fast = true;
    rows::scan_sqlite_file(path, from, to, |r| {
        if !all_fast {
            return;
        }
        match borrowed_hash(r).filter(|h| h == r.entry_hash) {
            Some(computed) => links.push(Link {
                seq: r.seq,
                prev_hash: r.prev_hash.to_owned(),
                entry_hash: r.entry_hash.to_owned(),
                computed,
            }),
            None => all_fast = false,
        }
    })?;
    Ok(all_fast.then_some(links))
}

/// The hash of a row, hex.
pub fn entry_hash(row: &LogRow) -> String {
    place_hash(row.seq, &body(row), &row.prev_hash)
}

/// The writer and checker of the access log.
#[derive(Clone, Debug)]
pub struct AccessLog {
    store: Store,
    /// The writer task's queue, started on the first append (inside the runtime).
    writer: Arc<OnceLock<tokio::sync::mpsc::Sender<Pending>>>,
    /// Signs checkpoints of the head, when configured.
    signer: Option<Arc<Checkpointer>>,
    /// The last verification of the whole chain, for the board's dashboard.
    last_verified: Arc<std::sync::RwLock<Option<Verified>>>,
}

/// Signs the chain head every `every` entries, or every `interval` when entries were added.
pub struct Checkpointer {
    key: ed25519_dalek::SigningKey,
    every: u64,
    interval: std::time::Duration,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field(
                "public_key",
                &hex::encode(self.key.verifying_key().as_bytes()),
            )
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    pub fn new(key: ed25519_dalek::SigningKey, every: u64, interval: std::time::Duration) -> Self {
        Self {
            key,
            every: every.max(1),
            interval,
        }
    }

    fn sign(&self, head: &Head, at: DateTime<Utc>) -> rows::Checkpoint {
        use ed25519_dalek::Signer;
        let at = at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at);
        let signature = self
            .key
            .sign(&checkpoint_message(head.seq, &head.entry_hash, at));
        rows::Checkpoint {
            seq: head.seq,
            entry_hash: head.entry_hash.clone(),
            at,
            public_key: hex::encode(self.key.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// What a checkpoint signs.
fn checkpoint_message(seq: i64, entry_hash: &str, at: DateTime<Utc>) -> Vec<u8> {
    format!(
        "kinship-access-log-checkpoint/1\n{seq}\n{entry_hash}\n{}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
    .into_bytes()
}

/// Whether a checkpoint's signature is good under its own key, and that key is `trusted`
/// (when one is given).
fn checkpoint_signed(c: &rows::Checkpoint, trusted: Option<&ed25519_dalek::VerifyingKey>) -> bool {
    let Ok(key_bytes) = hex::decode(&c.public_key) else {
        return false;
    };
    let Ok(key_bytes) = <[u8; 32]>::try_from(key_bytes.as_slice()) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes) else {
        return false;
    };
    if trusted.is_some_and(|t| *t != key) {
        return false;
    }
    let Ok(sig) = hex::decode(&c.signature) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
        return false;
    };
    key.verify_strict(&checkpoint_message(c.seq, &c.entry_hash, c.at), &sig)
        .is_ok()
}

/// An entry encoded for the chain before it has a place in it: its columns, and the
/// [`Body`] of its canonical encoding. The request appending it encodes it, so the writer —
/// the one task every append waits for — only numbers, hashes and inserts.
struct Unplaced {
    columns: rows::NewRow,
    body: Vec<u8>,
}

impl Unplaced {
    fn of(entry: &Entry) -> Self {
        // PostgreSQL keeps microseconds; truncating first makes the hashed value the stored one.
        let at = entry
            .at
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(entry.at);
        let reads = ReadsColumn::of(entry);
        let roles: Vec<String> = entry
            .principal
            .roles
            .iter()
            .map(|r| r.to_string())
            .collect();
        // Each JSON column is encoded once: the body holds the very text stored.
        let roles = json_text(&roles);
        let reads = json_text(&reads);
        let subjects = json_text(&entry.subjects());
        let mut columns = rows::NewRow {
            // Time-ordered, like the other ids the hub makes: each append adds to the end of
            // the unique index on `id` rather than to a random page of it, which was most of
            // what a batch wrote to SQLite's WAL.
            id: Uuid::now_v7(),
            at,
            request_id: entry.request_id.clone(),
            client_addr: entry.client_addr.clone(),
            principal_subject: entry.principal.subject.clone(),
            principal_organisation: entry.principal.organisation.to_string(),
            principal_roles: String::new(),
            purpose: entry.purpose.map(|p| p.to_string()),
            justification: entry.justification.clone(),
            break_glass: entry.break_glass(),
            operation_name: entry.operation_name.clone(),
            registered_operation: entry.registered_operation.clone(),
            query_hash: entry.query_hash.clone(),
            outcome: entry.outcome.clone(),
            reads: String::new(),
            subjects: String::new(),
        };
        let c = &columns;
        let body = serde_json::to_vec(&Body {
            id: &c.id,
            at: canonical_at(&c.at),
            request_id: &c.request_id,
            client_addr: c.client_addr.as_deref(),
            principal_subject: &c.principal_subject,
            principal_organisation: &c.principal_organisation,
            principal_roles: &*roles,
            purpose: c.purpose.as_deref(),
            justification: c.justification.as_deref(),
            break_glass: c.break_glass,
            operation_name: c.operation_name.as_deref(),
            registered_operation: c.registered_operation.as_deref(),
            query_hash: &c.query_hash,
            outcome: &c.outcome,
            reads: &*reads,
            subjects: &*subjects,
        })
        .unwrap_or_default();
        columns.principal_roles = Box::<str>::from(roles).into();
        columns.reads = Box::<str>::from(reads).into();
        columns.subjects = Box::<str>::from(subjects).into();
        Self { columns, body }
    }
}

/// The `reads` column of an entry, encoded straight from the entry. Its keys, and those of
/// each read, are declared in sorted order, so the text is byte for byte what encoding the
/// entry as a `serde_json::Value` (whose maps sort their keys) gives — the form `verify`
/// re-encodes stored entries in — without building that tree of maps and strings for every
/// request.
#[derive(Serialize)]
struct ReadsColumn<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    actions: &'a [serde_json::Value],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    bases: &'a std::collections::BTreeMap<String, String>,
    reads: Vec<SortedRead<'a>>,
    rules: &'a str,
}

impl<'a> ReadsColumn<'a> {
    fn of(entry: &'a Entry) -> Self {
        Self {
            actions: &entry.actions,
            bases: &entry.bases,
            reads: entry.reads.iter().map(SortedRead::of).collect(),
            rules: &entry.rules,
        }
    }
}

/// A [`Read`] with its fields in sorted order (see [`ReadsColumn`]).
#[derive(Serialize)]
struct SortedRead<'a> {
    category: DataCategory,
    clause: Option<&'a str>,
    decision: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    notify_owner: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    obligations: &'a [String],
    owner: &'a OrganisationId,
    protocol: Option<&'a str>,
    protocol_version: Option<&'a str>,
    released: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    review_overdue: bool,
    subject: PersonId,
    withheld: u64,
}

impl<'a> SortedRead<'a> {
    fn of(r: &'a Read) -> Self {
        Self {
            category: r.category,
            clause: r.clause.as_deref(),
            decision: &r.decision,
            notify_owner: r.notify_owner,
            obligations: &r.obligations,
            owner: &r.owner,
            protocol: r.protocol.as_deref(),
            protocol_version: r.protocol_version.as_deref(),
            released: r.released,
            review_overdue: r.review_overdue,
            subject: r.subject,
            withheld: r.withheld,
        }
    }
}

/// A value as compact JSON (maps with sorted keys). The values logged (strings, numbers and
/// maps keyed by strings) always encode; `null` stands in should one ever not.
fn json_text(value: &impl Serialize) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(value)
        .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
}

/// An entry waiting for the writer, with where to send its position.
struct Pending {
    row: Unplaced,
    done: tokio::sync::oneshot::Sender<Result<i64, ()>>,
}

/// The most entries one transaction appends.
const GROUP_MAX: usize = 256;

impl AccessLog {
    /// The log over a store.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            writer: Arc::new(OnceLock::new()),
            signer: None,
            last_verified: Arc::new(std::sync::RwLock::new(None)),
        }
    }

    /// The last verification of the whole chain this process ran, and when it finished.
    pub fn last_verified(&self) -> Option<Verified> {
        self.last_verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The same log, signing checkpoints of its head.
    pub fn with_checkpoints(mut self, signer: Checkpointer) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// Appends an entry and returns its position once it is committed. The writer appends it
    /// with whatever else is queued; the database refuses an entry that does not continue the
    /// chain, so appends from other processes still make one chain.
    pub async fn append(&self, entry: &Entry) -> Result<i64, AuditError> {
        let row = Unplaced::of(entry);
        let writer = self.writer.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(4 * GROUP_MAX);
            let store = self.store.clone();
            let signer = self.signer.clone();
            // The writer runs on a thread and runtime of its own: every round trip of a commit
            // would otherwise wait in the request runtime's queue behind the very requests
            // that are waiting for it.
            let spawned = std::thread::Builder::new()
                .name("kinship-access-log".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(write_loop(store, signer, rx)),
                        Err(e) => tracing::error!(error = %e, "access log writer cannot start"),
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "access log writer cannot start");
            }
            tx
        });
        let (done, answer) = tokio::sync::oneshot::channel();
        writer
            .send(Pending { row, done })
            .await
            .map_err(|_| AuditError::Writer)?;
        answer
            .await
            .map_err(|_| AuditError::Writer)?
            .map_err(|()| AuditError::Writer)
    }

    /// Appends entries in one transaction on the caller's connection, bypassing the writer:
    /// for loading a chain in bulk (benchmarks, restores), not for requests.
    pub async fn append_all(&self, entries: &[Entry]) -> Result<(), AuditError> {
        let rows: Vec<Unplaced> = entries.iter().map(Unplaced::of).collect();
        let txn = self.store.conn().begin().await?;
        chain(&mut Pooled(&txn), &mut None, &rows).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Recomputes the chain from entry `from` (1 = the start) and compares it with the head,
    /// and checks the signed checkpoints from there on (their signatures under their own key).
    pub async fn verify(&self, from: i64) -> Result<Verification, AuditError> {
        self.verify_with(from, None).await
    }

    /// [`AccessLog::verify`], and every checkpoint must be signed by `trusted`.
    pub async fn verify_with(
        &self,
        from: i64,
        trusted: Option<ed25519_dalek::VerifyingKey>,
    ) -> Result<Verification, AuditError> {
        let report = self.walk_chain(from, trusted).await?;
        if from <= 1 {
            *self
                .last_verified
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Utc::now(), report.clone()));
        }
        Ok(report)
    }

    async fn walk_chain(
        &self,
        from: i64,
        trusted: Option<ed25519_dalek::VerifyingKey>,
    ) -> Result<Verification, AuditError> {
        const PAGE: i64 = 5_000;
        const PAGES_AHEAD: usize = 4;
        let started = Instant::now();
        let conn = self.store.conn();
        let from = from.max(1);
        // Before the first entry checked, the chain must continue from the one before it.
        let expected_prev = hash_before(conn, from).await?;
        let mut walk = ChainWalk {
            expected_seq: from,
            expected_prev,
            checked: 0,
        };
        let checkpoints = rows::checkpoints(conn, from).await?;
        let mut at_checkpoints: std::collections::HashMap<i64, String> =
            checkpoints.iter().map(|c| (c.seq, String::new())).collect();
        // Pages of positions are read and hashed ahead, several at once (each read on its
        // own connection, each hash on a blocking thread), and walked in order: reading and
        // hashing overlap and keep both cores busy. On a SQLite file the JSON columns are
        // hashed as the text stored, without decoding them.
        let file = self.store.log_file().map(Arc::new);
        let head_at_start = rows::head(conn).await?.seq;
        let page_of = |start: i64| {
            let store = self.store.clone();
            let file = file.clone();
            tokio::spawn(async move {
                let conn = store.conn();
                let end = start + PAGE;
                // On a SQLite file, straight from SQLite's buffers. A page with an entry that does
                // not hash as stored (or from PostgreSQL) is read decoded: only a change of
                // content, not of JSON spelling, breaks the chain, and the walk names it.
                if let Some(file) = file {
                    let fast =
                        tokio::task::spawn_blocking(move || borrowed_links(&file, start, end))
                            .await
                            .map_err(|e| AuditError::Verify(e.to_string()))??;
                    if let Some(links) = fast {
                        return Ok(links);
                    }
                }
                let page = rows::entries_between(conn, start, end).await?;
                let links = tokio::task::spawn_blocking(move || {
                    page.into_iter().map(Link::of).collect::<Vec<_>>()
                })
                .await
                .map_err(|e| AuditError::Verify(e.to_string()))?;
                Ok::<_, AuditError>(links)
            })
        };
        let joined = |e: tokio::task::JoinError| AuditError::Verify(e.to_string());
        let mut ahead = std::collections::VecDeque::new();
        let mut next_start = from;
        for _ in 0..PAGES_AHEAD {
            ahead.push_back(page_of(next_start));
            next_start += PAGE;
        }
        let mut page_start = from;
        while let Some(task) = ahead.pop_front() {
            let links = task.await.map_err(joined)??;
            // Past the head as it was when the walk began, an empty page is the end; before
            // it, an empty page is a gap the walk reports.
            if links.is_empty() && page_start > head_at_start {
                break;
            }
            page_start += PAGE;
            ahead.push_back(page_of(next_start));
            next_start += PAGE;
            for link in links {
                if let Some(kind) = walk.step(&link) {
                    return Ok(Verification::broken(link.seq, kind, walk.checked, started));
                }
                if let Some(h) = at_checkpoints.get_mut(&link.seq) {
                    h.clone_from(&link.entry_hash);
                }
            }
        }
        let head = rows::head(conn).await?;
        let last_seq = walk.expected_seq - 1;
        if head.seq != last_seq
            || (head.seq >= from && walk.expected_prev.as_deref() != Some(&head.entry_hash))
        {
            return Ok(Verification::broken(
                last_seq + 1,
                Break::Truncated { head: head.seq },
                walk.checked,
                started,
            ));
        }
        for c in &checkpoints {
            let broken = |kind| Verification::broken(c.seq, kind, walk.checked, started);
            match at_checkpoints.get(&c.seq) {
                // A checkpoint past the last entry: the tail was cut off.
                None | Some(_) if c.seq > last_seq => {
                    return Ok(broken(Break::Truncated { head: c.seq }));
                }
                Some(h) if *h != c.entry_hash => return Ok(broken(Break::CheckpointMismatch)),
                _ => {}
            }
            if !checkpoint_signed(c, trusted.as_ref()) {
                return Ok(broken(Break::CheckpointSignature));
            }
        }
        Ok(Verification {
            checked: walk.checked,
            head: head.seq,
            first_break: None,
            checkpoints: checkpoints.len() as u64,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The writer: takes whatever is queued (up to [`GROUP_MAX`]) and appends it in one
/// transaction. If a batch fails, its entries are tried one by one, so one bad entry fails only
/// its own request.
async fn write_loop(
    shared: Store,
    signer: Option<Arc<Checkpointer>>,
    mut queue: tokio::sync::mpsc::Receiver<Pending>,
) {
    // The newest checkpoint: its position, and when this writer made or found it.
    let mut checkpointed: Option<(i64, Instant)> = None;
    // A connection of its own, opened in this runtime, so a commit never queues behind
    // readers for a pooled one. Until it opens, entries fail (and their requests with them).
    let mut own: Option<Store> = None;
    // On a SQLite file, appends go straight to the log's file from this thread.
    let mut file: Option<FileSink> = None;
    let mut head: Option<Head> = None;
    let mut batch = Vec::with_capacity(GROUP_MAX);
    while queue.recv_many(&mut batch, GROUP_MAX).await > 0 {
        let (rows, done): (Vec<Unplaced>, Vec<_>) =
            batch.drain(..).map(|p| (p.row, p.done)).unzip();
        if own.is_none() {
            match shared.dedicated(1).await {
                Ok(store) => own = Some(store),
                Err(e) => tracing::error!(error = %e, "access log writer cannot connect"),
            }
            if let Some(path) = shared.log_file() {
                match FileSink::open(&path, &shared) {
                    Ok(sink) => file = Some(sink),
                    // The pool's connection still appends, one statement a batch.
                    Err(e) => tracing::error!(error = %e, "access log writer cannot open its file"),
                }
            }
        }
        let Some(store) = own.as_ref() else {
            for done in done {
                let _ = done.send(Err(()));
            }
            continue;
        };
        let outcome = match file.as_mut() {
            Some(sink) => append_group(sink, &mut head, &rows).await,
            None => append_group(&mut Pooled(store.conn()), &mut head, &rows).await,
        };
        for (done, result) in done.into_iter().zip(outcome) {
            // A request that gave up waiting has nobody to tell.
            let _ = done.send(result);
        }
        if let (Some(signer), Some(h)) = (&signer, &head) {
            checkpoint(store, signer, h, &mut checkpointed).await;
        }
    }
}

/// Appends a group of rows together; if that fails, each alone, so one bad entry fails only
/// its own request. Returns each row's position, or that it failed.
async fn append_group(
    sink: &mut impl Sink,
    head: &mut Option<Head>,
    rows: &[Unplaced],
) -> Vec<Result<i64, ()>> {
    let failed = |e: &AuditError| {
        tracing::error!(error = %e, source = ?std::error::Error::source(e), "access log append failed");
    };
    match chain(sink, head, rows).await {
        Ok(first) => (first..).take(rows.len()).map(Ok).collect(),
        Err(e) if rows.len() == 1 => {
            failed(&e);
            vec![Err(())]
        }
        Err(_) => {
            let mut each = Vec::with_capacity(rows.len());
            for row in rows {
                let one = std::slice::from_ref(row);
                each.push(chain(sink, head, one).await.map_err(|e| failed(&e)));
            }
            each
        }
    }
}

/// Where [`chain`] appends.
trait Sink {
    /// The chain head as committed.
    async fn head(&mut self) -> Result<Head, StoreError>;
    /// Appends placed rows, all or none.
    async fn append(&mut self, rows: &[(&rows::NewRow, rows::Place)]) -> Result<(), StoreError>;
}

/// A database connection (or transaction): one multi-row insert a thousand rows.
struct Pooled<'a, C>(&'a C);

impl<C: sea_orm::ConnectionTrait> Sink for Pooled<'_, C> {
    async fn head(&mut self) -> Result<Head, StoreError> {
        rows::head(self.0).await
    }

    async fn append(&mut self, rows: &[(&rows::NewRow, rows::Place)]) -> Result<(), StoreError> {
        rows::append(self.0, rows).await
    }
}

/// A SQLite store's log file, written from the writer's own thread, and a thread of its own
/// that folds the file's WAL back into it at most once a second after appends (a commit then
/// never waits for that copy, nor for its sync to disk). That thread ends with the writer.
struct FileSink {
    file: rows::FileAppender,
    folder: crate::store::wal::WalFolder,
    /// The store whose statement counts include these appends.
    store: Store,
}

impl FileSink {
    fn open(path: &std::path::Path, store: &Store) -> Result<Self, StoreError> {
        let file = rows::FileAppender::open(path)?;
        let folder = crate::store::wal::WalFolder::start(
            path,
            "kinship-access-log-wal",
            std::time::Duration::from_secs(1),
        )?;
        Ok(Self {
            file,
            folder,
            store: store.clone(),
        })
    }
}

impl Sink for FileSink {
    async fn head(&mut self) -> Result<Head, StoreError> {
        let head = self.file.head();
        self.store.stats().add(1, head.is_err());
        head
    }

    async fn append(&mut self, rows: &[(&rows::NewRow, rows::Place)]) -> Result<(), StoreError> {
        let appended = self.file.append(rows);
        // BEGIN, one insert a row, COMMIT.
        self.store
            .stats()
            .add(rows.len() as u64 + 2, appended.is_err());
        if appended.is_ok() {
            self.folder.committed();
        }
        appended
    }
}

/// Signs the head when `every` entries or `interval` have passed since the last checkpoint.
/// A failure is logged and tried again after the next batch; it never fails a request.
async fn checkpoint(
    store: &Store,
    signer: &Checkpointer,
    head: &Head,
    last: &mut Option<(i64, Instant)>,
) {
    let (seq, at) = match *last {
        Some(l) => l,
        None => match rows::last_checkpoint(store.conn()).await {
            Ok(seq) => *last.insert((seq, Instant::now())),
            Err(e) => {
                tracing::error!(error = %e, "access log checkpoint: cannot read the last one");
                return;
            }
        },
    };
    let due = head.seq >= seq + signer.every as i64
        || (head.seq > seq && at.elapsed() >= signer.interval);
    if !due {
        return;
    }
    match rows::insert_checkpoint(store.conn(), &signer.sign(head, Utc::now())).await {
        Ok(()) => *last = Some((head.seq, Instant::now())),
        // Another hub may have signed this position first: read the newest again next time.
        Err(e) => {
            tracing::warn!(error = %e, "access log checkpoint not written");
            *last = None;
        }
    }
}

/// What the database says when an entry does not follow its head (migration 4).
const CHAIN_CONFLICT: &str = "does not continue the access-log chain";

/// Whether an error (or one it wraps) is the database refusing an entry out of chain.
fn is_conflict(e: &StoreError) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains(CHAIN_CONFLICT) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Appends rows after `head` (read from the database when not known), giving each its
/// position and hashes, in one statement per thousand rows, and returns the first row's
/// position. The database refuses a row that does not continue its head — another writer
/// (another hub process) got there first — and then the head is read again and the rows
/// re-chained, up to sixteen times. On success `head` is the last row appended; on failure it
/// is forgotten.
async fn chain(
    sink: &mut impl Sink,
    head: &mut Option<Head>,
    rows: &[Unplaced],
) -> Result<i64, AuditError> {
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut h = match head.take() {
            Some(h) => h,
            None => sink.head().await?,
        };
        let first = h.seq + 1;
        let placed: Vec<(&rows::NewRow, rows::Place)> = rows
            .iter()
            .map(|row| {
                let seq = h.seq + 1;
                let prev_hash = std::mem::take(&mut h.entry_hash);
                let entry_hash = place_hash(seq, &row.body, &prev_hash);
                h = Head {
                    seq,
                    entry_hash: entry_hash.clone(),
                };
                let place = rows::Place {
                    seq,
                    prev_hash,
                    entry_hash,
                };
                (&row.columns, place)
            })
            .collect();
        match sink.append(&placed).await {
            Ok(()) => {
                *head = Some(h);
                return Ok(first);
            }
            Err(e) if attempt < ATTEMPTS && is_conflict(&e) => {
                // Another writer is appending too: step aside for a moment, longer each time,
                // so two busy hubs do not keep colliding.
                let pause = 200 * attempt as u64 + rand::random_range(0..500u64);
                tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The first line of an extract: the range and the hash the first entry must follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExtractHeader {
    /// `kinship-access-log-extract/1`.
    pub format: String,
    pub from: i64,
    pub to: i64,
    /// The hash of the entry before `from` (the genesis hash when `from` is 1).
    pub prev_hash: String,
    pub exported_at: DateTime<Utc>,
}

const EXTRACT_FORMAT: &str = "kinship-access-log-extract/1";

impl AccessLog {
    /// Writes entries `from..=to` as JSON Lines: a header naming the hash the first entry
    /// follows, then one stored row per line with its hashes, so the extract can be checked
    /// on its own ([`verify_extract`]). Returns how many entries were written.
    pub async fn export(
        &self,
        from: i64,
        to: i64,
        out: &mut (impl std::io::Write + Send),
    ) -> Result<u64, ExtractError> {
        const PAGE: u64 = 10_000;
        let conn = self.store.conn();
        let from = from.max(1);
        let prev_hash = hash_before(conn, from)
            .await?
            .ok_or(ExtractError::Range(from))?;
        let header = ExtractHeader {
            format: EXTRACT_FORMAT.into(),
            from,
            to,
            prev_hash,
            exported_at: Utc::now(),
        };
        serde_json::to_writer(&mut *out, &header)?;
        out.write_all(b"\n")?;
        let (mut next, mut written) = (from, 0u64);
        while next <= to {
            let page = rows::entries(conn, next, PAGE.min((to - next + 1) as u64)).await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for row in page.iter().filter(|r| r.seq <= to) {
                serde_json::to_writer(&mut *out, row)?;
                out.write_all(b"\n")?;
                written += 1;
            }
        }
        out.flush()?;
        Ok(written)
    }
}

/// Why an extract could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("access log unavailable")]
    Store(#[from] StoreError),
    #[error("no entry #{0} to start from")]
    Range(i64),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: String },
}

impl From<serde_json::Error> for ExtractError {
    fn from(e: serde_json::Error) -> Self {
        Self::Malformed {
            line: e.line(),
            message: e.to_string(),
        }
    }
}

/// Checks an extract on its own: every entry's hash, and that each follows the one before it,
/// starting from the header's `prev_hash`.
pub fn verify_extract(input: impl std::io::BufRead) -> Result<Verification, ExtractError> {
    let started = Instant::now();
    let mut lines = input.lines().enumerate();
    let header: ExtractHeader = match lines.next() {
        Some((_, line)) => serde_json::from_str(&line?).map_err(|e| ExtractError::Malformed {
            line: 1,
            message: e.to_string(),
        })?,
        None => {
            return Err(ExtractError::Malformed {
                line: 1,
                message: "empty extract".into(),
            });
        }
    };
    if header.format != EXTRACT_FORMAT {
        return Err(ExtractError::Malformed {
            line: 1,
            message: format!("not a {EXTRACT_FORMAT} extract"),
        });
    }
    let mut walk = ChainWalk {
        expected_seq: header.from,
        expected_prev: Some(header.prev_hash),
        checked: 0,
    };
    for (i, line) in lines {
        let row: LogRow = serde_json::from_str(&line?).map_err(|e| ExtractError::Malformed {
            line: i + 1,
            message: e.to_string(),
        })?;
        let link = Link::of(row);
        if let Some(kind) = walk.step(&link) {
            return Ok(Verification::broken(link.seq, kind, walk.checked, started));
        }
    }
    if walk.expected_seq - 1 != header.to {
        return Ok(Verification::broken(
            walk.expected_seq,
            Break::Truncated { head: header.to },
            walk.checked,
            started,
        ));
    }
    Ok(Verification {
        checked: walk.checked,
        head: header.to,
        first_break: None,
        checkpoints: 0,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The hash entry `from` must follow: the genesis hash for the first entry, otherwise the
/// stored hash of the entry before it (`None` when the log no longer holds it).
async fn hash_before(
    conn: &impl sea_orm::ConnectionTrait,
    from: i64,
) -> Result<Option<String>, StoreError> {
    if from <= 1 {
        return Ok(Some(rows::GENESIS_HASH.to_owned()));
    }
    Ok(rows::entries(conn, from - 1, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == from - 1)
        .map(|r| r.entry_hash))
}

/// Walks a chain in order: each row must come at the next position, follow the previous
/// row's hash and hash to what it says.
/// What the chain walk needs of one entry: its place, its stored hashes and the hash
/// recomputed from its content.
struct Link {
    seq: i64,
    prev_hash: String,
    entry_hash: String,
    computed: String,
}

impl Link {
    fn of(row: LogRow) -> Self {
        let computed = entry_hash(&row);
        Self {
            seq: row.seq,
            prev_hash: row.prev_hash,
            entry_hash: row.entry_hash,
            computed,
        }
    }
}

struct ChainWalk {
    expected_seq: i64,
    /// `None`: the first row's predecessor is not known (verifying from a point the log no
    /// longer holds before).
    expected_prev: Option<String>,
    checked: u64,
}

impl ChainWalk {
    /// The break at `row` (with the hash recomputed from it), or `None` when it follows on.
    fn step(&mut self, row: &Link) -> Option<Break> {
        if row.seq != self.expected_seq {
            return Some(if row.seq > self.expected_seq {
                Break::Missing {
                    expected: self.expected_seq,
                }
            } else {
                Break::Reordered
            });
        }
        if self
            .expected_prev
            .as_deref()
            .is_some_and(|p| p != row.prev_hash)
        {
            return Some(Break::PrevHashMismatch);
        }
        if row.computed != row.entry_hash {
            return Some(Break::Changed);
        }
        self.expected_prev = Some(row.entry_hash.clone());
        self.expected_seq += 1;
        self.checked += 1;
        None
    }
}

/// How the chain broke at an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// The entry's content no longer matches its hash.
    Changed,
    /// The entry does not follow the one before it (one was inserted or altered before it).
    PrevHashMismatch,
    /// Entries are missing before this one.
    Missing { expected: i64 },
    /// Entries are out of order.
    Reordered,
    /// The log ends before the head recorded (the tail was cut off).
    Truncated { head: i64 },
    /// A signed checkpoint names a different hash for this entry.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify (or is not by the trusted key).
    CheckpointSignature,
}

/// A verification of the whole chain and when it finished.
pub type Verified = (DateTime<Utc>, Verification);

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verification {
    pub checked: u64,
    pub head: i64,
    /// The first entry where the chain is broken, and how.
    pub first_break: Option<(i64, Break)>,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    pub seconds: f64,
}

impl Verification {
    fn broken(seq: i64, kind: Break, checked: u64, started: Instant) -> Self {
        Self {
            checked,
            head: 0,
            first_break: Some((seq, kind)),
            checkpoints: 0,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// Whether the whole chain checked out.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows whose hashes were computed by the encoding as first written: any change to how an
    /// entry is encoded for the chain changes one of them.
    fn pinned() -> Vec<(LogRow, &'static str)> {
        let full: LogRow = serde_json::from_value(serde_json::json!({
            "seq": 42,
            "id": "6f1c1b52-9a37-4d2e-8a8e-0d1f0b6c2a11",
            "at": "2026-01-02T03:04:05.123456Z",
            "request_id": "req-\"quoted\"-é",
            "client_addr": "10.0.0.7",
            "principal_subject": "sw-7",
            "principal_organisation": "local_authority:999",
            "principal_roles": ["social_worker", "board_member"],
            "purpose": "safeguarding",
            "justification": "line one\nline two \u{1F600}",
            "break_glass": true,
            "operation_name": "ChildSummary",
            "registered_operation": "sha256:abc",
            "query_hash": "0d5e",
            "outcome": "ok",
            "reads": {"rules": "P-MASH@3.0", "reads": [{"subject": "0a0b0c0d-0000-4000-8000-000000000001", "released": 2, "clause": null}], "bases": {"P-MASH 3.0 4.1": "public task"}},
            "subjects": ["0a0b0c0d-0000-4000-8000-000000000001", "0a0b0c0d-0000-4000-8000-000000000002"],
            "prev_hash": "ab".repeat(32),
            "entry_hash": ""
        }))
        .expect("a row");
        let mut bare = full.clone();
        bare.seq = 1;
        bare.client_addr = None;
        bare.purpose = None;
        bare.justification = None;
        bare.break_glass = false;
        bare.operation_name = None;
        bare.registered_operation = None;
        bare.principal_roles = vec![];
        bare.subjects = vec![];
        bare.reads = serde_json::json!({"rules": "", "reads": []});
        bare.prev_hash = rows::GENESIS_HASH.to_owned();
        vec![
            (
                full,
                "0941e700bd3ff871753d844b7591f88c319dfd532e2a1b41c8a9ca5e508bd393",
            ),
            (
                bare,
                "2cb772fbb02c0aa5f953bbd0809b0aed6a9398627b2b7917eb1ef291b80240c5",
            ),
        ]
    }

    #[test]
    fn entry_hashes_are_those_of_the_pinned_encoding() {
        for (i, (row, expected)) in pinned().into_iter().enumerate() {
            assert_eq!(entry_hash(&row), expected, "pinned row {i}");
        }
    }

    /// The row an appended entry is stored as, read back.
    fn stored(u: &Unplaced, seq: i64, prev_hash: &str) -> LogRow {
        let c = &u.columns;
        LogRow {
            seq,
            id: c.id,
            at: c.at,
            request_id: c.request_id.clone(),
            client_addr: c.client_addr.clone(),
            principal_subject: c.principal_subject.clone(),
            principal_organisation: c.principal_organisation.clone(),
            principal_roles: serde_json::from_str(&c.principal_roles).expect("roles"),
            purpose: c.purpose.clone(),
            justification: c.justification.clone(),
            break_glass: c.break_glass,
            operation_name: c.operation_name.clone(),
            registered_operation: c.registered_operation.clone(),
            query_hash: c.query_hash.clone(),
            outcome: c.outcome.clone(),
            reads: serde_json::from_str(&c.reads).expect("reads"),
            subjects: serde_json::from_str(&c.subjects).expect("subjects"),
            prev_hash: prev_hash.to_owned(),
            entry_hash: String::new(),
        }
    }

    #[test]
    fn an_appended_entry_hashes_as_its_stored_row_does() {
        use crate::model::{AgencyKind, DataCategory, Role};
        let child = PersonId::new();
        let owner = OrganisationId::new(AgencyKind::School, "9991001");
        let read = |decision: &str, obligations: Vec<String>| Read {
            subject: child,
            category: DataCategory::EducationAttendance,
            owner: owner.clone(),
            decision: decision.into(),
            protocol: Some("P-MASH".into()),
            protocol_version: Some("3.0".into()),
            clause: Some("4.1".into()),
            released: 3,
            withheld: 1,
            review_overdue: true,
            notify_owner: false,
            obligations,
        };
        let full = Entry {
            at: Utc::now(),
            request_id: "req-\"1\"\n".into(),
            client_addr: Some("::1".into()),
            principal: Principal {
                subject: "sw-1 é".into(),
                organisation: OrganisationId::new(AgencyKind::LocalAuthority, "999"),
                roles: vec![Role::SocialWorker, Role::BoardMember],
            },
            purpose: Some(Purpose::Safeguarding),
            justification: Some("child at risk \u{1F600}".into()),
            operation_name: Some("ChildSummary".into()),
            registered_operation: Some("sha256:op".into()),
            query_hash: query_hash("query { x }"),
            outcome: "ok".into(),
            rules: "P-MASH@3.0".into(),
            reads: vec![
                read("permitted", vec![]),
                read("break_glass", vec!["flag_for_board".into()]),
            ],
            bases: [(clause_key("P-MASH", "3.0", "4.1"), "public task".to_owned())].into(),
            actions: vec![serde_json::json!({"kind": "consent", "subject": PersonId::new()})],
        };
        let bare = Entry {
            client_addr: None,
            purpose: None,
            justification: None,
            operation_name: None,
            registered_operation: None,
            reads: vec![],
            bases: Default::default(),
            actions: vec![],
            ..full.clone()
        };
        for (name, entry) in [("full", full), ("bare", bare)] {
            let u = Unplaced::of(&entry);
            for (seq, prev) in [(1, rows::GENESIS_HASH), (987_654_321, "ab\"c")] {
                assert_eq!(
                    place_hash(seq, &u.body, prev),
                    entry_hash(&stored(&u, seq, prev)),
                    "{name} entry at {seq}"
                );
            }
        }
    }

    /// The `reads` column written straight from an entry is the text its `Value` encoding
    /// gives, for every combination of the optional fields.
    #[test]
    fn reads_column_is_the_value_encoding() {
        use crate::model::{AgencyKind, Role};
        let mut reads = Vec::new();
        for (i, (clause, flags)) in [(None, false), (Some("4.1"), true)].into_iter().enumerate() {
            for obligations in [vec![], vec!["flag_for_board".to_owned(), "b".to_owned()]] {
                reads.push(Read {
                    subject: PersonId::new(),
                    category: DataCategory::PersonIdentity,
                    owner: OrganisationId::new(AgencyKind::School, "9992001"),
                    decision: "permitted".into(),
                    protocol: clause.map(|_| "P-MASH".to_owned()),
                    protocol_version: clause.map(|_| "3.0".to_owned()),
                    clause: clause.map(str::to_owned),
                    released: i as u64,
                    withheld: u64::MAX,
                    review_overdue: flags,
                    notify_owner: flags,
                    obligations,
                });
            }
        }
        let value = |e: &Entry| {
            let mut v = serde_json::json!({ "rules": e.rules, "reads": e.reads });
            if !e.bases.is_empty() {
                v["bases"] = serde_json::json!(e.bases);
            }
            if !e.actions.is_empty() {
                v["actions"] = serde_json::json!(e.actions);
            }
            serde_json::to_string(&v).expect("encodes")
        };
        let full = Entry {
            at: Utc::now(),
            request_id: "r".into(),
            client_addr: None,
            principal: Principal {
                subject: "sw-1".into(),
                organisation: OrganisationId::new(AgencyKind::LocalAuthority, "999"),
                roles: vec![Role::SocialWorker],
            },
            purpose: Some(Purpose::Safeguarding),
            justification: None,
            operation_name: None,
            registered_operation: None,
            query_hash: query_hash("q"),
            outcome: "ok".into(),
            rules: "P-MASH@3.0 \"x\"".into(),
            reads,
            bases: [("b \u{e9}".to_owned(), "public task\n".to_owned())].into(),
            actions: vec![serde_json::json!({"z": 1, "a": {"y": [true], "b": null}})],
        };
        let bare = Entry {
            reads: vec![],
            bases: Default::default(),
            actions: vec![],
            ..full.clone()
        };
        for (name, entry) in [("full", full), ("bare", bare)] {
            let direct = serde_json::to_string(&ReadsColumn::of(&entry)).expect("encodes");
            assert_eq!(direct, value(&entry), "{name} entry");
        }
    }
}
