//! sqlx queries, one file per aggregate. SQL dialect details stay in here.

pub mod assets;
pub mod indexes;
pub mod keys;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub type Pool = sqlx::SqlitePool;
pub type Transaction<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// Opens (creating if needed) the SQLite database and applies migrations.
/// A connection of the pool's kind, for queries that take part in a caller's transaction.
pub type Connection = sqlx::SqliteConnection;

pub async fn connect(database_file: &Path) -> anyhow::Result<Pool> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(database_file)
        .create_if_missing(true)
        // WAL lets `assetd keys` and readers work while the server writes.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("opening database {}", database_file.display()))?;
    // The app's and the queue's migrations share one history table; each set
    // ignores the other's versions.
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
        .run(&pool)
        .await
        .context("applying database migrations")?;
    assetd_queue::migrate(&pool)
        .await
        .context("applying the job queue's migrations")?;
    Ok(pool)
}

/// Now, as stored: Unix milliseconds.
pub fn now_millis() -> i64 {
    crate::domain::Timestamp::now().millis()
}
