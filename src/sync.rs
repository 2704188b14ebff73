//! The sync engine: runs connectors, and turns what they deliver into the graph.
//!
//! For each batch a connector hands over, one transaction writes everything: new and changed
//! source records (keyed by connector and source key, compared by content hash, so re-pulling
//! unchanged data writes nothing), the rows derived from them, their links to persons, the
//! quarantine entries for records that could not be read, the run's counters and the cursor
//! after the batch. A crash or `kill -9` at any point therefore leaves the store at a batch
//! boundary, and the next run resumes from the cursor that went with it.
//!
//! Transient failures are retried with exponential backoff and jitter, honouring
//! `Retry-After`; fatal ones stop the connector and are recorded on the run.
//!
//! Limits: imports the connector SDK, `linkage`, `store` and `model`. Never the gate or the API:
//! the engine writes, it never serves reads.

mod apply;
pub mod derive;
pub mod progress;
pub mod registry;
pub mod relink;
pub mod retry;
pub mod timing;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use kinship_connector_sdk::{Batch, ConnectorError, Cursor, DynConnector, Manifest};
use uuid::Uuid;

use crate::store::sync::{self as rows, Run};
use crate::store::{Store, StoreError};

pub use progress::Progress;
pub use retry::RetryPolicy;

/// Batches pulled ahead of the writer. A deeper queue lets the writer take more records in one
/// transaction when it is the slower side, so each commit writes fewer pages per record; each
/// queued batch holds its records raw and parsed, so memory bounds the depth.
const QUEUED_BATCHES: usize = 8;

/// The most records written in one transaction when batches queue up.
const GROUP_RECORDS: usize = 20_000;

/// One configured connector.
#[derive(Clone, Debug)]
pub struct ConnectorSpec {
    /// The instance id; source records are keyed by it.
    pub id: String,
    /// The connector kind (`health-fhir`, ...).
    pub kind: String,
    /// The connector's own settings.
    pub settings: serde_json::Value,
    /// At most this many pulls per second.
    pub rate_per_second: Option<f64>,
    pub retry: RetryPolicy,
}

/// A connector built from its spec, with its manifest checked.
pub struct Running {
    pub spec: ConnectorSpec,
    pub connector: Box<dyn DynConnector>,
    pub manifest: Manifest,
}

impl Running {
    /// Builds the connector and checks its manifest.
    pub fn build(spec: ConnectorSpec) -> Result<Self, SyncError> {
        let connector = registry::build(&spec.kind, spec.settings.clone())
            .map_err(|e| SyncError::Config(format!("connector `{}`: {e}", spec.id)))?;
        let manifest = connector.manifest();
        let problems = manifest.problems();
        if !problems.is_empty() {
            return Err(SyncError::Config(format!(
                "connector `{}`: {}",
                spec.id,
                problems.join("; ")
            )));
        }
        Ok(Self {
            spec,
            connector,
            manifest,
        })
    }
}

/// One run counted among an engine's runs under way. A run whose future is dropped part-way
/// (a cancelled task) stops being counted too, or no later run would ever be the last.
struct Active(Option<Arc<std::sync::atomic::AtomicUsize>>);

impl Active {
    fn start(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Some(Arc::clone(count)))
    }

    /// Stops counting this run; true when no other run is under way.
    fn finish(mut self) -> bool {
        self.0
            .take()
            .is_some_and(|c| c.fetch_sub(1, Ordering::SeqCst) == 1)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Config(String),
    #[error("connector `{connector}` failed: {error}")]
    Connector {
        connector: String,
        error: ConnectorError,
    },
    #[error("store unavailable")]
    Store(#[from] StoreError),
    #[error("store unavailable")]
    Db(#[from] sea_orm::DbErr),
}

/// Runs connectors against a store.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    link_lock: Arc<tokio::sync::Mutex<apply::LinkState>>,
    linkage: crate::config::LinkageConfig,
    /// The indicator sets re-evaluated for the persons a run touched.
    indicators: Arc<crate::practice::indicators::IndicatorSets>,
    /// Where the engine's runs spent their time.
    timings: Arc<timing::Timings>,
    /// The most records one transaction carries when batches queue up.
    group_records: usize,
    /// Runs of this engine under way: the last of overlapping runs to finish rebuilds the
    /// families all of them touched.
    active: Arc<std::sync::atomic::AtomicUsize>,
}

impl Engine {
    /// An engine over a store.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            link_lock: Arc::new(tokio::sync::Mutex::new(apply::LinkState::default())),
            linkage: crate::config::LinkageConfig::default(),
            indicators: Arc::default(),
            timings: Arc::default(),
            group_records: GROUP_RECORDS,
            active: Arc::default(),
        }
    }

    /// The engine re-evaluating these indicator sets for the persons a run touches.
    pub fn with_indicators(mut self, sets: crate::practice::indicators::IndicatorSets) -> Self {
        self.indicators = Arc::new(sets);
        self
    }

    /// The engine writing at most `records` records in one transaction when pulled batches
    /// queue up (at least each batch as the connector delivered it). Grouping depends on how
    /// far the feed runs ahead of the store; 1 writes every batch on its own, so a sync's
    /// transactions follow the feed's pages exactly.
    pub fn with_group_records(mut self, records: usize) -> Self {
        self.group_records = records;
        self
    }

    /// The engine with these linkage thresholds.
    pub fn with_linkage(mut self, linkage: crate::config::LinkageConfig) -> Self {
        self.linkage = linkage;
        self
    }

    /// Where the engine's runs have spent their time, stage by stage.
    pub fn timings(&self) -> &timing::Timings {
        &self.timings
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Pulls with retries: transient errors wait and try again, up to the policy's attempts.
    /// Each retry is counted in `retries`.
    async fn pull_with_retries(
        &self,
        c: &Running,
        cursor: Option<&Cursor>,
        retries: &AtomicI64,
        progress: &dyn Progress,
    ) -> Result<Batch, SyncError> {
        let mut attempt = 1;
        loop {
            match c.connector.pull(cursor).await {
                Ok(batch) => return Ok(batch),
                Err(ConnectorError::Transient {
                    message,
                    retry_after,
                }) if attempt < c.spec.retry.max_attempts => {
                    let wait = c.spec.retry.delay(attempt, retry_after);
                    progress.retrying(&c.spec.id, attempt, wait, &message);
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => {
                    return Err(SyncError::Connector {
                        connector: c.spec.id.clone(),
                        error,
                    });
                }
            }
        }
    }

    /// Waits for the connector's rate limit, then pulls.
    async fn paced_pull(
        &self,
        c: &Running,
        cursor: Option<&Cursor>,
        last_pull: &mut Option<Instant>,
        retries: &AtomicI64,
        progress: &dyn Progress,
    ) -> Result<Batch, SyncError> {
        let min_gap = c
            .spec
            .rate_per_second
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        if let (Some(gap), Some(last)) = (min_gap, *last_pull) {
            let since = last.elapsed();
            if since < gap {
                tokio::time::sleep(gap - since).await;
            }
        }
        *last_pull = Some(Instant::now());
        self.pull_with_retries(c, cursor, retries, progress).await
    }

    /// One run: from the stored cursor until the connector has nothing more. Returns the run
    /// as recorded, whether it succeeded or not.
    pub async fn run(&self, c: &Running, progress: &dyn Progress) -> Result<Run, SyncError> {
        let conn = self.store.conn();
        let mut run = Run {
            id: Uuid::new_v4(),
            connector: c.spec.id.clone(),
            started_at: Utc::now(),
            finished_at: None,
            status: "running".into(),
            batches: 0,
            new: 0,
            changed: 0,
            unchanged: 0,
            quarantined: 0,
            retries: 0,
            error: None,
        };
        rows::save_run(conn, &run).await?;
        progress.started(&c.spec.id);
        let cursor = rows::cursor(conn, &c.spec.id).await?.map(Cursor);
        let active = Active::start(&self.active);
        let retries = AtomicI64::new(0);
        // A producer pulls and parses batches into a short queue while the consumer writes
        // them: reading the feed and writing the graph overlap. The consumer writes whatever
        // batches are queued as one transaction (up to `group_records` records), so when the
        // store is the slower side each transaction carries more rows for the pages it
        // dirties; the cursor it stores is that of the last batch in it.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Batch, SyncError>>(QUEUED_BATCHES);
        let producer = async {
            let mut cursor = cursor;
            let mut last_pull: Option<Instant> = None;
            loop {
                let started = Instant::now();
                let pulled = self
                    .paced_pull(c, cursor.as_ref(), &mut last_pull, &retries, progress)
                    .await;
                self.timings.lap(timing::Stage::Pull, started);
                let next = match &pulled {
                    Ok(b) => b.next.clone(),
                    Err(_) => None,
                };
                if tx.send(pulled).await.is_err() {
                    break;
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            drop(tx);
        };
        let consumer = async {
            // Owned here, so that when the consumer stops the queue closes and a producer
            // waiting to send stops too.
            let mut rx = rx;
            loop {
                let mut group = match rx.recv().await {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                };
                run.batches += 1;
                let mut stop = None;
                while group.next.is_some()
                    && group.records.len() + group.rejected.len() < self.group_records
                {
                    match rx.try_recv() {
                        Ok(Ok(b)) => {
                            run.batches += 1;
                            group.records.extend(b.records);
                            group.rejected.extend(b.rejected);
                            group.next = b.next;
                        }
                        Ok(Err(e)) => {
                            stop = Some(e);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                apply::batch(
                    &self.store,
                    c,
                    group,
                    &mut run,
                    &self.link_lock,
                    &self.linkage,
                    &self.timings,
                )
                .await?;
                progress.batch(&c.spec.id, &run);
                if let Some(e) = stop {
                    return Err(e);
                }
            }
        };
        let ((), mut outcome) = tokio::join!(producer, consumer);
        // What the committed batches touched, whether the run went on to fail or not, rebuilt
        // by the last of this engine's overlapping runs to finish: a person several feeds
        // touch at once is rebuilt once, not after each feed. The queue is in the store, so
        // a process stopped before then leaves it to the next run.
        let last = active.finish();
        if last
            && let Err(e) = apply::rebuild_families(
                &self.store,
                &self.link_lock,
                &self.indicators,
                &self.timings,
            )
            .await
            && outcome.is_ok()
        {
            outcome = Err(e);
        }
        run.retries += retries.load(Ordering::Relaxed);
        run.finished_at = Some(Utc::now());
        match &outcome {
            Ok(()) => run.status = "ok".into(),
            Err(e) => {
                run.status = "failed".into();
                run.error = Some(e.to_string());
            }
        }
        rows::save_run(conn, &run).await?;
        progress.finished(&c.spec.id, &run);
        outcome.map(|()| run)
    }

    /// Re-reads open quarantine entries of a connector through its `reparse`; entries that
    /// now read cleanly are applied and resolved. Returns (resolved, still open).
    pub async fn retry_quarantined(&self, c: &Running) -> Result<(usize, usize), SyncError> {
        let conn = self.store.conn();
        let open = rows::quarantined(conn, Some(&c.spec.id), true, 100_000).await?;
        let (mut resolved, mut still) = (0, 0);
        for q in open {
            match c.connector.reparse(&q.raw) {
                Ok(records) => {
                    let mut run = Run {
                        id: Uuid::new_v4(),
                        connector: c.spec.id.clone(),
                        started_at: Utc::now(),
                        finished_at: None,
                        status: "retry".into(),
                        batches: 1,
                        new: 0,
                        changed: 0,
                        unchanged: 0,
                        quarantined: 0,
                        retries: 0,
                        error: None,
                    };
                    let batch = Batch {
                        records,
                        rejected: vec![],
                        next: None,
                    };
                    apply::batch(
                        &self.store,
                        c,
                        batch,
                        &mut run,
                        &self.link_lock,
                        &self.linkage,
                        &self.timings,
                    )
                    .await?;
                    if run.quarantined == 0 {
                        rows::retried(conn, q.id, true, &q.reason, Utc::now()).await?;
                        resolved += 1;
                    } else {
                        rows::retried(conn, q.id, false, &q.reason, Utc::now()).await?;
                        still += 1;
                    }
                }
                Err(rejected) => {
                    rows::retried(conn, q.id, false, &rejected.reason, Utc::now()).await?;
                    still += 1;
                }
            }
        }
        Ok((resolved, still))
    }
}

/// Runs connectors on their schedules until the process stops, one run at a time per
/// connector and at most `max_concurrent` at once.
pub async fn schedule(
    engine: Engine,
    connectors: Vec<(Arc<Running>, Duration)>,
    max_concurrent: usize,
    progress: Arc<dyn Progress>,
) {
    let gate = Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (c, every) in connectors {
        let engine = engine.clone();
        let gate = Arc::clone(&gate);
        let progress = Arc::clone(&progress);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Ok(_permit) = Arc::clone(&gate).acquire_owned().await else {
                    return;
                };
                if let Err(e) = engine.run(&c, progress.as_ref()).await {
                    tracing::warn!(connector = %c.spec.id, error = %e, "scheduled sync failed");
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
