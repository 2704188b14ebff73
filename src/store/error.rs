//! Store errors. Messages name tables and operations, never row content.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite:` nor `postgres://`.
    #[error("database url must start with `sqlite:` or `postgres://`")]
    UnsupportedUrl,
    /// The database could not be reached.
    #[error("cannot connect to the database")]
    Connect(#[source] sea_orm::DbErr),
    /// A migration failed.
    #[error("migration failed")]
    Migrate(#[source] sea_orm::DbErr),
    /// A query or statement failed.
    #[error("database error")]
    Db(#[from] sea_orm::DbErr),
    /// A direct read of a SQLite file failed.
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// A blocking reader stopped before it finished.
    #[error("a database reader stopped: {0}")]
    Task(String),
    /// The access log's file of a SQLite store is missing (see [`super::log_file_of`]).
    #[error("the access log file `{}` is missing; restore it beside the database", .0.display())]
    LogFileMissing(std::path::PathBuf),
    /// A row held a value the model does not accept (a schema or data defect).
    #[error("`{table}` row has an invalid `{column}`")]
    Corrupt {
        table: &'static str,
        column: &'static str,
    },
}
