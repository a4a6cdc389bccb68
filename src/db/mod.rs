//! sqlx queries, one file per aggregate. SQL dialect details stay in here.

pub mod assets;
pub mod keys;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub type Pool = sqlx::SqlitePool;
pub type Transaction<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// Opens (creating if needed) the SQLite database and applies migrations.
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
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Now, as stored: Unix milliseconds.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}
