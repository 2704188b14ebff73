//! On a SQLite file, the access log moves to a file of its own (`<name>.access-log.<ext>`),
//! which the store attaches to every connection as `log`.
//!
//! Why: a commit to a SQLite file makes every other connection to it drop its page cache and
//! memory map at its next read. With the log in the database's file, the entry each request
//! writes cost every concurrent reader of the graph its cache; with the log in a file of its
//! own, a log commit costs only readers of the log.
//!
//! The tables (with their indexes and the triggers that keep the log append-only and chained)
//! are created in `log` from their definitions in `main`, the rows copied, and that is
//! committed before the tables in `main` are dropped, so a crash at any point leaves the log
//! whole in one file or the other: until `main` has lost its copy, this step starts again from
//! scratch. PostgreSQL, and a SQLite database with no `log` attached (in memory), keep the log
//! where it is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The log's tables, parents before children.
const TABLES: [&str; 5] = [
    "access_log",
    "access_log_subjects",
    "audit_head",
    "audit_checkpoints",
    "break_glass_reviews",
];

/// `sqlite_master` keeps each definition with its keywords upper-cased and any schema name
/// removed, so the schema goes in after the keywords.
fn in_log(sql: &str) -> Option<String> {
    [
        "CREATE TABLE ",
        "CREATE UNIQUE INDEX ",
        "CREATE INDEX ",
        "CREATE TRIGGER ",
    ]
    .iter()
    .find_map(|k| sql.strip_prefix(k).map(|rest| format!("{k}log.{rest}")))
}

async fn count(c: &impl ConnectionTrait, sql: &str) -> Result<i64, DbErr> {
    Ok(
        c.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await?
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0),
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let c = m.get_connection();
        let attached = count(
            c,
            "SELECT count(*) FROM pragma_database_list WHERE name = 'log'",
        );
        let in_main = count(
            c,
            "SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = 'access_log'",
        );
        if attached.await? == 0 || in_main.await? == 0 {
            return Ok(());
        }
        let names = TABLES
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let definitions: Vec<(String, String, String)> = c
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!(
                    "SELECT type, tbl_name, sql FROM main.sqlite_master \
                     WHERE tbl_name IN ({names}) AND sql IS NOT NULL"
                ),
            ))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                ))
            })
            .collect::<Result<_, DbErr>>()?;
        let of = |kind: &str, table: &str| -> Vec<String> {
            definitions
                .iter()
                .filter(|(k, t, _)| k == kind && t == table)
                .filter_map(|(_, _, sql)| in_log(sql))
                .collect()
        };

        // 1. The log's file gets the tables and rows, then the indexes and triggers (which
        //    would otherwise re-chain and re-index the copied rows), in one transaction.
        let txn = m.begin().await?;
        let t = txn.get_connection();
        for table in TABLES.iter().rev() {
            t.execute_unprepared(&format!("DROP TABLE IF EXISTS log.{table}"))
                .await?;
        }
        for table in TABLES {
            for sql in of("table", table) {
                t.execute_unprepared(&sql).await?;
            }
            t.execute_unprepared(&format!(
                "INSERT INTO log.{table} SELECT * FROM main.{table}"
            ))
            .await?;
        }
        for kind in ["index", "trigger"] {
            for table in TABLES {
                for sql in of(kind, table) {
                    t.execute_unprepared(&sql).await?;
                }
            }
        }
        txn.commit().await?;

        // 2. Only then does the database's file give them up.
        let txn = m.begin().await?;
        for table in TABLES.iter().rev() {
            txn.get_connection()
                .execute_unprepared(&format!("DROP TABLE main.{table}"))
                .await?;
        }
        txn.commit().await
    }
}
