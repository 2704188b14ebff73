//! The store's floor for `kinship bench sync`: how long SQLite takes to write the rows an
//! initial load made when it has nothing else to do. The loaded file's tables are copied, one
//! `INSERT … SELECT` and one transaction each, into a fresh file of the same schema and page
//! size, opened as the sync engine's writer opens its own: into tables whose indexes are kept
//! as rows go in (as the load writes them), or into bare tables indexed afterwards (what a
//! bulk path that builds its indexes at the end could do at best). No parsing, linkage,
//! hashing or binding is in either; the bench runs the faster one again while the feeds are
//! pulled, for a load must do both.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::Connection;

use super::super::CliError;

/// The loaded file's schema and size, to copy it by.
pub(super) struct Plan {
    loaded: PathBuf,
    tables: Vec<(String, String)>,
    indexes: Vec<(String, String)>,
    page_size: i64,
    /// Rows the loaded file holds (each copy writes them all).
    pub rows: u64,
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(format!("measuring the store's floor: {e}"))
}

/// The copy's target, beside the loaded file, removed before and after.
struct Scratch(PathBuf);

impl Scratch {
    fn new(loaded: &Path, suffix: &str) -> Self {
        let s = Self(loaded.with_extension(suffix));
        s.remove();
        s
    }

    fn remove(&self) {
        for f in crate::store::sqlite_files(&self.0) {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Plan {
    /// Reads the loaded file's tables, indexes, page size and row count.
    pub(super) fn of(loaded: &Path) -> Result<Self, CliError> {
        let schema = Connection::open(loaded).map_err(failed)?;
        let listed = |sql: &str| -> Result<Vec<(String, String)>, CliError> {
            let mut s = schema.prepare(sql).map_err(failed)?;
            let rows = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        };
        let tables = listed(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let indexes = listed(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             ORDER BY name",
        )?;
        // The copies are laid out in the loaded file's pages: the page size decides much of
        // what a write costs.
        let page_size: i64 = schema
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(failed)?;
        let mut rows = 0u64;
        for (table, _) in &tables {
            let n: i64 = schema
                .query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
                    r.get(0)
                })
                .map_err(failed)?;
            rows += n.unsigned_abs();
        }
        Ok(Self {
            loaded: loaded.to_owned(),
            tables,
            indexes,
            page_size,
            rows,
        })
    }

    /// A fresh file of the loaded one's tables (and indexes, when `with_indexes`), opened as
    /// the sync engine's writer opens its own, with the loaded file attached as `loaded`.
    fn open(&self, scratch: &Scratch, with_indexes: bool) -> Result<Connection, CliError> {
        let c = Connection::open(&scratch.0).map_err(failed)?;
        c.execute_batch(&format!("PRAGMA page_size = {};", self.page_size))
            .map_err(failed)?;
        c.execute_batch(crate::store::batch::WRITER_PRAGMAS)
            .map_err(failed)?;
        for (_, sql) in &self.tables {
            c.execute_batch(sql).map_err(failed)?;
        }
        if with_indexes {
            for (_, sql) in &self.indexes {
                c.execute_batch(sql).map_err(failed)?;
            }
        }
        c.execute(
            "ATTACH DATABASE ?1 AS loaded",
            [self.loaded.display().to_string()],
        )
        .map_err(failed)?;
        Ok(c)
    }

    /// Every table's rows, one statement and one transaction a table.
    fn copy(&self, into: &Connection) -> Result<(), CliError> {
        for (table, _) in &self.tables {
            into.execute_batch(&format!(
                "BEGIN; INSERT INTO main.\"{table}\" SELECT * FROM loaded.\"{table}\"; COMMIT;"
            ))
            .map_err(failed)?;
        }
        Ok(())
    }

    /// Seconds to copy every row into tables whose indexes are kept as rows go in.
    /// Blocking: run it off the runtime.
    pub(super) fn copy_indexed(&self) -> Result<f64, CliError> {
        let scratch = Scratch::new(&self.loaded, "floor-indexed.db");
        let c = self.open(&scratch, true)?;
        let started = Instant::now();
        self.copy(&c)?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Seconds to copy every row into bare tables (their primary keys and unique constraints
    /// only), and then to build every other index. Blocking: run it off the runtime.
    pub(super) fn copy_bare_then_index(&self) -> Result<(f64, f64), CliError> {
        let scratch = Scratch::new(&self.loaded, "floor-bare.db");
        let c = self.open(&scratch, false)?;
        let started = Instant::now();
        self.copy(&c)?;
        let bare = started.elapsed().as_secs_f64();
        let started = Instant::now();
        c.execute_batch("BEGIN").map_err(failed)?;
        for (_, sql) in &self.indexes {
            c.execute_batch(sql).map_err(failed)?;
        }
        c.execute_batch("COMMIT").map_err(failed)?;
        Ok((bare, started.elapsed().as_secs_f64()))
    }
}
