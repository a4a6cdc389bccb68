//! A durable job queue on sqlx. Jobs are rows; a worker claims one with a lease
//! in a single statement, renews the lease while it works, and records the
//! outcome. A job whose worker died (its lease ran out) is claimed again: that
//! is the whole crash-recovery story. Such an interruption is not the job's
//! fault, so it is counted apart from the attempts, with a cap of its own.
//! Transient failures are retried with exponential backoff and jitter (the
//! next run time is part of the row), up to a cap; then the job is marked
//! failed, not deleted, and can be queued again with [`Queue::retry_failed`]. The queue knows nothing of
//! what jobs do: kinds, payloads and resources are opaque strings.
//!
//! It runs on SQLite (one process) and on PostgreSQL (several nodes). Every
//! time it stores is read off the database's clock, so that nodes whose clocks
//! disagree still agree on when a lease ran out. The SQL is kept in this file;
//! the only statements that differ by [`Dialect`] are the claim (PostgreSQL
//! skips rows another node is claiming) and the clock.

mod worker;

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyConnection, AnyPool, FromRow};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use worker::{spawn_workers, Handler, Outcome, WorkerOptions, JOB_DURATION_METRIC};

/// The SQL engine under a pool, told by its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sqlite:...` or `postgres:...`/`postgresql:...`; None for anything else.
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    pub fn of(pool: &AnyPool) -> Self {
        Self::of_url(pool.connect_options().database_url.as_str())
            .expect("an AnyPool is only ever opened on a SQLite or PostgreSQL URL")
    }

    /// Unix milliseconds by the database's clock, as an SQL expression.
    /// PostgreSQL's `now()` is the start of the statement's transaction.
    pub fn now_millis(self) -> &'static str {
        match self {
            Self::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            Self::Postgres => "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)",
        }
    }

    /// What makes concurrent claims on several nodes pass each other by
    /// instead of queueing on the same row. SQLite has one writer at a time.
    fn claim_lock(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }
}

/// The channel on which PostgreSQL announces queued jobs (a trigger in the
/// queue's migration sends the job's kind), so that idle workers on every node
/// look at once instead of at their next poll.
const CHANNEL: &str = "assetd_jobs";

/// Creates or upgrades the queue's table. Its migration versions are far from
/// the app's, and each side ignores the other's, so they share one history table.
pub async fn migrate(pool: &AnyPool) -> Result<(), MigrateError> {
    let mut migrator: Migrator = match Dialect::of(pool) {
        Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// How long to wait before the next attempt of a failed job.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): doubling from
    /// `min_delay`, capped, with jitter so that a burst does not retry in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build();
        delays
            .nth(attempt.saturating_sub(1) as usize)
            .unwrap_or(self.max_delay)
    }
}

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub resource: Option<String>,
    pub max_attempts: u32,
    /// Not before this long from now.
    pub delay: Duration,
}

/// A claimed job, held under a lease by one worker.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub resource: Option<String>,
    /// This attempt's number, from 1. A run cut short by the death of its
    /// process does not use an attempt up.
    #[sqlx(try_from = "i64")]
    pub attempt: u32,
    #[sqlx(try_from = "i64")]
    pub max_attempts: u32,
    /// How many runs of this job so far were cut short by the death of their process.
    #[sqlx(try_from = "i64")]
    pub interruptions: u32,
    pub lease_owner: String,
}

/// A job's row as seen from outside (tests, diagnostics).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct JobState {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub resource: Option<String>,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    #[sqlx(try_from = "i64")]
    pub interruptions: u32,
    pub last_error: Option<String>,
}

#[derive(Clone)]
pub struct Queue {
    pool: AnyPool,
    dialect: Dialect,
    wake: Arc<Notify>,
    retry: RetryPolicy,
}

const STATE_COLUMNS: &str = "id, kind, state, resource, attempts, interruptions, last_error";

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Queue {
    /// A queue on `pool`, in the SQL of its [`Dialect`].
    pub fn new(pool: AnyPool, retry: RetryPolicy) -> Self {
        Self {
            dialect: Dialect::of(&pool),
            pool,
            wake: Arc::new(Notify::new()),
            retry,
        }
    }

    /// Adds a job inside the caller's transaction (so that it exists exactly when
    /// what it is about does). Call [`Queue::wake`] after the commit.
    pub async fn enqueue(&self, conn: &mut AnyConnection, job: &NewJob) -> sqlx::Result<i64> {
        let now = self.dialect.now_millis();
        let (id,): (i64,) = sqlx::query_as(&format!(
            "INSERT INTO jobs (kind, payload, resource, state, attempts, max_attempts, run_after, created_at, updated_at)
             VALUES ($1, $2, $3, 'queued', 0, $4, {now} + $5, {now}, {now}) RETURNING id"
        ))
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(&job.resource)
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(millis(job.delay))
        .fetch_one(conn)
        .await?;
        Ok(id)
    }

    /// Tells idle workers in this process to look for work now. Workers on
    /// other nodes hear of it from PostgreSQL ([`Queue::listen`]), or poll.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    fn woken(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// On PostgreSQL, wakes this process's idle workers whenever any node
    /// queues a job, until `stop`. The listener reconnects by itself after a
    /// lost connection; polling covers what it misses meanwhile. On SQLite
    /// (one process) there is nothing to listen to: None.
    pub fn listen(&self, stop: CancellationToken) -> Option<JoinHandle<()>> {
        if self.dialect != Dialect::Postgres {
            return None;
        }
        let url = self.pool.connect_options().database_url.to_string();
        let wake = self.wake.clone();
        Some(tokio::spawn(async move {
            let mut listener = loop {
                match listen_on(&url).await {
                    Ok(listener) => break listener,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not listen for queued jobs; polling meanwhile");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(5)) => {}
                            () = stop.cancelled() => return,
                        }
                    }
                }
            };
            loop {
                tokio::select! {
                    received = listener.recv() => match received {
                        Ok(_) => wake.notify_waiters(),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the queued-jobs channel; polling meanwhile");
                            tokio::select! {
                                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                                () = stop.cancelled() => return,
                            }
                        }
                    },
                    () = stop.cancelled() => return,
                }
            }
        }))
    }

    /// Claims the next due job of `kind`: one statement, so two workers can never
    /// hold the same job. A running job whose lease ran out counts as due; taking
    /// it counts an interruption instead of an attempt (every `SET` expression
    /// sees the row as it was).
    pub async fn claim(
        &self,
        kind: &str,
        owner: &str,
        lease: Duration,
    ) -> sqlx::Result<Option<Job>> {
        let now = self.dialect.now_millis();
        let lock = self.dialect.claim_lock();
        sqlx::query_as(&format!(
            "UPDATE jobs
                SET attempts = attempts + CASE WHEN state = 'queued' THEN 1 ELSE 0 END,
                    interruptions = interruptions + CASE WHEN state = 'running' THEN 1 ELSE 0 END,
                    state = 'running', lease_until = {now} + $1, lease_owner = $2, updated_at = {now}
              WHERE id = (SELECT id FROM jobs
                           WHERE kind = $3
                             AND ((state = 'queued' AND run_after <= {now}) OR (state = 'running' AND lease_until < {now}))
                           ORDER BY run_after, id
                           LIMIT 1
                           {lock})
             RETURNING id, kind, payload, resource, attempts AS attempt, max_attempts, interruptions, lease_owner"
        ))
        .bind(millis(lease))
        .bind(owner)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await
    }

    /// Renews the lease. False when the job is no longer this worker's (it was
    /// cancelled, or its lease ran out and another worker took it).
    pub async fn heartbeat(&self, job: &Job, lease: Duration) -> sqlx::Result<bool> {
        let now = self.dialect.now_millis();
        let done = sqlx::query(&format!(
            "UPDATE jobs SET lease_until = {now} + $1, updated_at = {now}
              WHERE id = $2 AND lease_owner = $3 AND state = 'running'"
        ))
        .bind(millis(lease))
        .bind(job.id)
        .bind(&job.lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The job succeeded: its row goes.
    pub async fn complete(&self, job: &Job) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job.id)
        .bind(&job.lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queues the job again after the backoff for this attempt.
    pub async fn retry_later(&self, job: &Job, error: &str) -> sqlx::Result<Duration> {
        let delay = self.retry.delay(job.attempt);
        let now = self.dialect.now_millis();
        sqlx::query(&format!(
            "UPDATE jobs SET state = 'queued', run_after = {now} + $1, lease_until = NULL, lease_owner = NULL,
                    last_error = $2, updated_at = {now}
              WHERE id = $3 AND lease_owner = $4 AND state = 'running'"
        ))
        .bind(millis(delay))
        .bind(error)
        .bind(job.id)
        .bind(&job.lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(delay)
    }

    /// The job ended without success; the row stays with its error.
    pub async fn fail(&self, job: &Job, error: &str) -> sqlx::Result<bool> {
        let now = self.dialect.now_millis();
        let done = sqlx::query(&format!(
            "UPDATE jobs SET state = 'failed', lease_until = NULL, last_error = $1, updated_at = {now}
              WHERE id = $2 AND lease_owner = $3 AND state = 'running'"
        ))
        .bind(error)
        .bind(job.id)
        .bind(&job.lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels the queued and running jobs about `resource`, inside the caller's
    /// transaction. A running one notices at its next heartbeat and stops.
    pub async fn cancel_resource(
        &self,
        conn: &mut AnyConnection,
        resource: &str,
    ) -> sqlx::Result<u64> {
        let now = self.dialect.now_millis();
        let done = sqlx::query(&format!(
            "UPDATE jobs SET state = 'cancelled', lease_until = NULL, updated_at = {now}
              WHERE resource = $1 AND state IN ('queued', 'running')"
        ))
        .bind(resource)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Puts this owner's running jobs back in the queue without counting the
    /// attempt: a clean shutdown hands its work on at once instead of after the lease.
    pub async fn release(&self, owner: &str) -> sqlx::Result<u64> {
        let now = self.dialect.now_millis();
        let done = sqlx::query(&format!(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL, lease_owner = NULL,
                    run_after = {now}, updated_at = {now}
              WHERE lease_owner = $1 AND state = 'running'"
        ))
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every job about `resource`, oldest first.
    pub async fn jobs_for(&self, resource: &str) -> sqlx::Result<Vec<JobState>> {
        sqlx::query_as(&format!(
            "SELECT {STATE_COLUMNS} FROM jobs WHERE resource = $1 ORDER BY id"
        ))
        .bind(resource)
        .fetch_all(&self.pool)
        .await
    }

    /// How many jobs there are of each kind in each state (done jobs are
    /// deleted): `(kind, state, count)`, from the claim index alone.
    pub async fn counts(&self) -> sqlx::Result<Vec<(String, String, i64)>> {
        sqlx::query_as("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state")
            .fetch_all(&self.pool)
            .await
    }

    /// Every job that is not done (queued, running or failed), oldest first.
    pub async fn unfinished(&self) -> sqlx::Result<Vec<JobState>> {
        sqlx::query_as(&format!(
            "SELECT {STATE_COLUMNS} FROM jobs WHERE state IN ('queued', 'running', 'failed') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
    }

    /// Queues failed jobs again with fresh attempts and interruptions, inside
    /// the caller's transaction (so that what they are about can be reset with
    /// them): those about `resource`, or every failed job when it is None.
    /// Returns the jobs queued again. Call [`Queue::wake`] after the commit.
    pub async fn retry_failed(
        &self,
        conn: &mut AnyConnection,
        resource: Option<&str>,
    ) -> sqlx::Result<Vec<JobState>> {
        let now = self.dialect.now_millis();
        sqlx::query_as(&format!(
            "UPDATE jobs SET state = 'queued', attempts = 0, interruptions = 0, run_after = {now},
                    lease_until = NULL, lease_owner = NULL, last_error = NULL, updated_at = {now}
              WHERE state = 'failed' AND ($1 IS NULL OR resource = $1)
             RETURNING {STATE_COLUMNS}"
        ))
        .bind(resource)
        .fetch_all(conn)
        .await
    }
}

async fn listen_on(url: &str) -> sqlx::Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
