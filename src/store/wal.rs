//! A thread that folds a SQLite file's write-ahead log back into the file after commits (a
//! `PASSIVE` checkpoint: as far as readers allow, without blocking the writer), so that a
//! commit never waits for that copy nor for its sync to disk. The access log's writer and
//! the sync engine's writer each keep one beside their connection.

use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::StoreError;

/// Wakes the folding thread; the thread ends when this is dropped.
pub struct WalFolder(SyncSender<()>);

impl WalFolder {
    /// Starts a thread named `name` on a connection of its own to `path`, resting `rest`
    /// after each fold.
    pub fn start(path: &Path, name: &str, rest: Duration) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0")?;
        let (committed, commits) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while commits.recv().is_ok() {
                    if let Err(e) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL not folded back; trying again after the next commit");
                    }
                    std::thread::sleep(rest);
                }
            })
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(Self(committed))
    }

    /// Asks for a fold after a commit (a fold already due covers this one too).
    pub fn committed(&self) {
        let _ = self.0.try_send(());
    }
}
