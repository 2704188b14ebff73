//! The store: sea-orm over SQLite (a file, WAL mode; the embedded default) or PostgreSQL (the
//! production store). Entities are private; repositories take `&impl ConnectionTrait` and return
//! `model` types, so a transaction opens where a unit of work starts (in the caller) and the same
//! repository code runs inside or outside one.
//!
//! Limits: imports `model` only. Knows nothing of protocols, GraphQL or HTTP; it returns what it
//! is asked for and never decides who may see it — that is the gate's job.

pub mod batch;
mod entity;
pub mod error;
pub mod families;
pub mod graph;
pub mod indicators;
pub mod kpis;
pub mod load;
pub mod log;
pub mod matches;
pub mod notifications;
pub mod operations;
pub mod practice;
pub mod sync;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kinship_migrations::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub use error::StoreError;

/// The page size of a new SQLite file, in bytes (see [`Store::connect`]).
pub const SQLITE_PAGE_SIZE: u32 = 16_384;

/// Which database is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a `DATABASE_URL` names.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// How to open the store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://...`.
    pub url: String,
    /// The pool size; SQLite ignores sizes above what WAL serves well.
    pub max_connections: u32,
    /// How long to wait for a pooled connection.
    pub acquire_timeout: Duration,
}

impl StoreOptions {
    /// Options for a URL with defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }

    /// A SQLite URL for a file path, created when missing.
    pub fn sqlite_path(path: &std::path::Path) -> Self {
        Self::new(format!("sqlite://{}?mode=rwc", path.display()))
    }
}

/// Counters a metrics page or a test can read. Statement counts prove that loaders batch.
#[derive(Debug, Default)]
pub struct StoreStats {
    statements: AtomicU64,
    failed: AtomicU64,
}

impl StoreStats {
    /// SQL statements executed since start.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// SQL statements that failed since start.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Counts statements run outside the pool (straight on a SQLite file).
    pub(crate) fn add(&self, statements: u64, failed: bool) {
        self.statements.fetch_add(statements, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    stats: Arc<StoreStats>,
    /// How it was opened, so a component can open a pool of its own on the same database.
    options: Arc<StoreOptions>,
}

impl Store {
    /// Opens the database. SQLite runs in WAL mode with foreign keys on and a busy timeout, so
    /// readers never block the writer and a short write waits instead of failing.
    pub async fn connect(options: &StoreOptions) -> Result<Self, StoreError> {
        Self::connect_counted(options, Arc::new(StoreStats::default())).await
    }

    /// The file of a SQLite store (`None` for PostgreSQL or an in-memory database), for
    /// readers that go to the file directly.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        sqlite_file_of(&self.options.url)
    }

    /// The file that holds the access log of a SQLite store (see [`log_file_of`]), for readers
    /// that go to the file directly; `None` for PostgreSQL or an in-memory database, whose log
    /// is in the database itself.
    pub fn log_file(&self) -> Option<PathBuf> {
        self.sqlite_file().map(|p| log_file_of(&p))
    }

    /// The same database through a pool of its own of `connections`, counted in the same
    /// statistics: for a writer that must not wait behind readers for a pooled connection.
    /// An in-memory SQLite database cannot be opened twice, so it shares this pool.
    pub async fn dedicated(&self, connections: u32) -> Result<Self, StoreError> {
        if in_memory(&self.options.url) {
            return Ok(self.clone());
        }
        let mut options = (*self.options).clone();
        options.max_connections = connections;
        Self::connect_counted(&options, Arc::clone(&self.stats)).await
    }

    /// The same database through a pool of its own of `connections`, counted apart: for a
    /// background worker whose polling must not show in the server's statement counts.
    pub async fn separate(&self, connections: u32) -> Result<Self, StoreError> {
        if in_memory(&self.options.url) {
            return Ok(self.clone());
        }
        let mut options = (*self.options).clone();
        options.max_connections = connections;
        Self::connect_counted(&options, Arc::new(StoreStats::default())).await
    }

    async fn connect_counted(
        options: &StoreOptions,
        stats: Arc<StoreStats>,
    ) -> Result<Self, StoreError> {
        let backend = Backend::of_url(&options.url).ok_or(StoreError::UnsupportedUrl)?;
        let log_file = sqlite_file_of(&options.url).map(|p| Arc::new(log_file_of(&p)));
        let mut opts = ConnectOptions::new(options.url.clone());
        opts.max_connections(match backend {
            Backend::Sqlite => options.max_connections.min(8),
            Backend::Postgres => options.max_connections,
        })
        .min_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // A new file is laid out in 16 KiB pages (an existing one keeps its own; the
            // setting is ignored there). The graph's indexes take rows at random keys, so a
            // commit writes every page a batch touched: larger pages hold more of one batch's
            // rows each, and `bench sync` commits far fewer of them than with 4 KiB.
            o.page_size(SQLITE_PAGE_SIZE)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Bulk inserts vary in row count, so their statements rarely repeat: a small
                // cache keeps the hot reads prepared without holding every insert's SQL.
                .statement_cache_capacity(64)
                // Pages come from a 128 MiB memory map and a 16 MiB cache rather than a read() per
                // page, and the WAL is folded back in larger, rarer checkpoints.
                .pragma("cache_size", "-16384")
                .pragma("mmap_size", "134217728")
                .pragma("wal_autocheckpoint", "16384")
                .pragma("temp_store", "memory")
        })
        .map_sqlx_sqlite_pool_opts(move |pool| match &log_file {
            // Every connection sees the access log's file as the schema `log`, so SQL names
            // its tables unqualified on either backend.
            Some(log) => {
                let log = Arc::clone(log);
                pool.after_connect(move |conn, _| {
                    let log = Arc::clone(&log);
                    Box::pin(async move { attach_log(conn, &log).await })
                })
            }
            None => pool,
        });
        let mut db = Database::connect(opts).await.map_err(StoreError::Connect)?;
        let counter = Arc::clone(&stats);
        db.set_metric_callback(move |info| {
            counter.statements.fetch_add(1, Ordering::Relaxed);
            if info.failed {
                counter.failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self {
            db,
            backend,
            stats,
            options: Arc::new(options.clone()),
        })
    }

    /// Runs every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.check_log_file().await?;
        kinship_migrations::Migrator::up(&self.db, None)
            .await
            .map_err(StoreError::Migrate)
    }

    /// Whether every migration this binary knows has been applied.
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        self.check_log_file().await?;
        let pending = kinship_migrations::Migrator::get_pending_migrations(&self.db)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(pending.is_empty())
    }

    /// Refuses a SQLite store whose access log was moved to its own file but whose log file
    /// is not there (attaching a missing file creates an empty one): the hub would otherwise
    /// start a new chain and lose the old one from view.
    async fn check_log_file(&self) -> Result<(), StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let Some(log) = self.log_file() else {
            return Ok(());
        };
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                "SELECT \
                   (SELECT count(*) FROM main.sqlite_master \
                     WHERE type = 'table' AND name = 'seaql_migrations'), \
                   (SELECT count(*) FROM log.sqlite_master \
                     WHERE type = 'table' AND name = 'access_log')",
                [],
            ))
            .await?;
        let count = |i| {
            row.as_ref()
                .and_then(|r| r.try_get_by_index::<i64>(i).ok())
                .unwrap_or(0)
        };
        if count(0) == 0 || count(1) > 0 {
            return Ok(());
        }
        let moved = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                "SELECT count(*) FROM seaql_migrations WHERE version = ?",
                [kinship_migrations::LOG_FILE_MIGRATION.into()],
            ))
            .await?
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0);
        if moved > 0 {
            return Err(StoreError::LogFileMissing(log));
        }
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(StoreError::Db)
    }

    /// The connection, for repositories and for opening transactions.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Statement counters.
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.map_err(StoreError::Db)
    }
}

impl Store {
    /// SQLite's `application_id` header field (0 elsewhere): marks files Kinship created.
    pub async fn application_id(&self) -> Result<i64, StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "PRAGMA application_id",
            ))
            .await?;
        Ok(row
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0))
    }

    /// Sets SQLite's `application_id` (a no-op elsewhere).
    pub async fn set_application_id(&self, id: i64) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        // PRAGMA takes no bound parameters; `id` is an integer, so nothing can be injected.
        self.db
            .execute_unprepared(&format!("PRAGMA application_id = {id}"))
            .await?;
        Ok(())
    }
}

/// The file of a `sqlite:` URL (`None` for PostgreSQL or an in-memory database).
fn sqlite_file_of(url: &str) -> Option<PathBuf> {
    if Backend::of_url(url) != Some(Backend::Sqlite) || in_memory(url) {
        return None;
    }
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next()?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Where a SQLite store keeps its access log: a file of its own beside the database
/// (`kinship.db` -> `kinship.access-log.db`), attached to every connection as `log`. A commit
/// to a SQLite file makes every other connection drop its page cache and memory map of that
/// file, so with the log in the same file each request's log entry cost every concurrent read
/// its cache; in a file of its own, it costs only readers of the log. Back the two up together.
pub fn log_file_of(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match db.extension() {
        Some(ext) => format!("{stem}.access-log.{}", ext.to_string_lossy()),
        None => format!("{stem}.access-log"),
    };
    db.with_file_name(name)
}

/// Every file a SQLite store at `db` consists of: the database, the access log, and the
/// write-ahead log and shared-memory index of each.
pub fn sqlite_files(db: &Path) -> Vec<PathBuf> {
    let mut files = Vec::with_capacity(6);
    for base in [db.to_path_buf(), log_file_of(db)] {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = base.as_os_str().to_owned();
            p.push(suffix);
            files.push(PathBuf::from(p));
        }
    }
    files
}

/// A read-only connection straight to a SQLite file, for a blocking reader that scans it in
/// one pass (the indicator refresh, `audit verify`), waiting out a writer's lock.
pub(crate) fn open_read_only(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Whether a `sqlite:` URL names an in-memory database, which cannot be opened twice.
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Attaches the access log's file to a new connection as `log`, creating it if missing, in
/// WAL mode like the database.
async fn attach_log(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    log: &Path,
) -> Result<(), sea_orm::sqlx::Error> {
    use sea_orm::sqlx::Executor;
    sea_orm::sqlx::query("ATTACH DATABASE ? AS log")
        .bind(log.to_string_lossy().into_owned())
        .execute(&mut *conn)
        .await?;
    // The log is appended to and read back rarely (verification, the board's pages): pages
    // come by read() rather than a memory map that each append would have every other
    // connection to the log remap. A new file gets 2 KiB pages: an entry touches a page of
    // each index it goes into (its subjects' at random), and every page a commit touches is
    // written whole to the WAL, so smaller pages write fewer bytes per entry, while an
    // entry of a few reads still fits on one page. (A file with content keeps its page size.)
    conn.execute(
        "PRAGMA log.page_size = 2048; \
         PRAGMA log.journal_mode = WAL; PRAGMA log.synchronous = NORMAL; \
         PRAGMA log.mmap_size = 0",
    )
    .await?;
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`): a deferred transaction that reads first and writes later fails with
/// `SQLITE_BUSY_SNAPSHOT` if another connection wrote in between, which waiting cannot cure.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, StoreError> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?)
}
