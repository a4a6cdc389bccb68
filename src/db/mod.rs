//! sqlx queries, one file per aggregate. SQL dialect details stay in here.
//!
//! One pool type serves both engines: sqlx's `Any` driver over SQLite (the
//! embedded default) or PostgreSQL, chosen by the database URL's scheme.
//! Every statement is written once, in the SQL both engines read, with `$N`
//! placeholders (SQLite reads them too); [`Statement`] builds the few whose
//! shape is only known at run time. Each engine has its own migrations folder
//! with the same versions.

pub mod assets;
pub mod indexes;
pub mod inline_reads;
pub mod jobs;
pub mod keys;
pub mod multipart;
pub mod name_grams;
pub mod rate_limits;
pub mod read_cache;
pub mod settings;
mod statement;
pub mod webhooks;

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::{Any, Encode, Executor, Type};

pub use assetd_queue::Dialect;
pub use statement::{Reader, SqliteRow, Statement};

use crate::config::DataDir;

pub type Pool = sqlx::AnyPool;
pub type Transaction<'a> = sqlx::Transaction<'a, Any>;
/// A connection of the pool's kind, for queries that take part in a caller's transaction.
pub type Connection = sqlx::AnyConnection;

/// Opens the database a command was pointed at (creating it, and the data
/// directory of the SQLite default, if needed) and applies migrations.
pub async fn open(data: &DataDir) -> anyhow::Result<Pool> {
    if data.database_url.is_none() {
        std::fs::create_dir_all(&data.path)
            .with_context(|| format!("creating data dir {}", data.path.display()))?;
    }
    connect(&data.database_url()?).await
}

/// A connection idle longer than this is pinged before use: the server at
/// the other end may have closed it (restarted, or an idle timeout).
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_millis(500);

/// Opens (creating if needed) the database at `url` and applies migrations.
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::of_url(url).with_context(|| {
        format!(
            "the database URL must start with sqlite:// or postgres://, not `{}`",
            redact(url)
        )
    })?;
    create_if_missing(url).await?;
    let pool = AnyPoolOptions::new()
        .max_connections(match dialect {
            Dialect::Sqlite => 8,
            // Workers, their heartbeats and requests of one node; the server's
            // own limit is shared by every node.
            Dialect::Postgres => 16,
        })
        // sqlx pings a connection before every use by default: one more round
        // trip per statement (on SQLite, one more trip to its thread), though
        // it also pings each one it takes back. As HikariCP does, only a
        // connection idle for a while is pinged before use; a database that
        // closed it meanwhile (restarted, an idle timeout) costs no request
        // (test: readiness.rs). PostgreSQL `bench-read`: GET 12-19% more
        // req/s.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < IDLE_BEFORE_PING {
                    return Ok(true);
                }
                sqlx::Connection::ping(conn).await?;
                Ok(true)
            })
        })
        .after_connect(|conn, _| {
            Box::pin(async move {
                if conn.backend_name() == "SQLite" {
                    // WAL lets `assetd keys` and readers work while the server
                    // writes; a writer waits for its turn instead of failing.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .with_context(|| format!("opening database {}", redact(url)))?;
    // The app's and the queue's migrations share one history table; each set
    // ignores the other's versions. On PostgreSQL sqlx holds an advisory lock
    // while it migrates, so that nodes starting at once take turns.
    let mut migrator: Migrator = match dialect {
        Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
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

/// A transaction that inserts or deletes assets (whose triggers read the
/// search tables as they write). On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): SQLite refuses at once, rather than waits for, a
/// write lock that a transaction already reading asks for (measured when
/// FTS5's triggers read its tables first: a delete racing a reference failed
/// with `database is locked` in 3 of 4 runs of
/// `a_delete_and_a_reference_racing_never_both_win`). PostgreSQL's row locks
/// need nothing of the kind.
pub async fn begin_write(pool: &Pool) -> sqlx::Result<Transaction<'static>> {
    match Dialect::of(pool) {
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Dialect::Postgres => pool.begin().await,
    }
}

/// Creates the database like the SQLite default creates its file. A node that
/// may not look (no access to PostgreSQL's `postgres` database) or that loses
/// a race to create it goes on and connects.
async fn create_if_missing(url: &str) -> anyhow::Result<()> {
    match Any::database_exists(url).await {
        Ok(true) => Ok(()),
        Ok(false) => match Any::create_database(url).await {
            Ok(()) => Ok(()),
            Err(e) if Any::database_exists(url).await.unwrap_or(false) => {
                tracing::debug!(error = %e, "another node created the database first");
                Ok(())
            }
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("creating database {}", redact(url))))
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "could not check whether the database exists; connecting anyway");
            Ok(())
        }
    }
}

/// A database URL fit for logs and errors: without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Whether the database refused a write because a foreign key no longer
/// allows it: the loser of a race between deleting an asset and referencing
/// it. On PostgreSQL both statements can pass their own checks at once; the
/// key then decides (SQLite runs one writer at a time and never gets here).
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// A nullable `f64` as a bind argument. sqlx 0.8's `Any` driver sends a None
/// `f64` to PostgreSQL as a NULL of type `real` and a None `f32` as a NULL of
/// type `double precision` (it swaps the two). PostgreSQL keeps the types a
/// statement was first prepared with, so after a NULL `real` it refuses the
/// next non-null double ("incorrect binary data format in bind parameter").
/// This binds a None as the `f32` None, which arrives as the double NULL the
/// column is; the PostgreSQL test suite fails if a sqlx upgrade changes that.
pub struct NullableDouble(pub Option<f64>);

impl Type<Any> for NullableDouble {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as Type<Any>>::type_info()
    }
}

impl<'q> Encode<'q, Any> for NullableDouble {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(value) => <f64 as Encode<'q, Any>>::encode_by_ref(&value, buf),
            None => <Option<f32> as Encode<'q, Any>>::encode_by_ref(&None, buf),
        }
    }
}

/// Now, as stored: Unix milliseconds.
pub fn now_millis() -> i64 {
    crate::domain::Timestamp::now().millis()
}
