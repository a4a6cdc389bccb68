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
//! Only SQLite is implemented; the SQL is kept in this file so that PostgreSQL
//! (`FOR UPDATE SKIP LOCKED` in the claim) is a contained change.

mod worker;

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{FromRow, SqliteConnection, SqlitePool};
use tokio::sync::Notify;

pub use worker::{spawn_workers, Handler, Outcome, WorkerOptions};

/// Creates or upgrades the queue's table. Its migration versions are far from
/// the app's, and each side ignores the other's, so they share one history table.
pub async fn migrate(pool: &SqlitePool) -> Result<(), MigrateError> {
    let mut migrator: Migrator = sqlx::migrate!("./migrations");
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
    pool: SqlitePool,
    wake: Arc<Notify>,
    retry: RetryPolicy,
}

const STATE_COLUMNS: &str = "id, kind, state, resource, attempts, interruptions, last_error";

fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Queue {
    pub fn new(pool: SqlitePool, retry: RetryPolicy) -> Self {
        Self {
            pool,
            wake: Arc::new(Notify::new()),
            retry,
        }
    }

    /// Adds a job inside the caller's transaction (so that it exists exactly when
    /// what it is about does). Call [`Queue::wake`] after the commit.
    pub async fn enqueue(&self, conn: &mut SqliteConnection, job: &NewJob) -> sqlx::Result<i64> {
        let now = now_millis();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO jobs (kind, payload, resource, state, attempts, max_attempts, run_after, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', 0, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(&job.resource)
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(now + millis(job.delay))
        .bind(now)
        .bind(now)
        .fetch_one(conn)
        .await?;
        Ok(id)
    }

    /// Tells idle workers in this process to look for work now (others poll).
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    fn woken(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims the next due job of `kind`: one statement, so two workers can never
    /// hold the same job. A running job whose lease ran out counts as due; taking
    /// it counts an interruption instead of an attempt (SQLite evaluates every
    /// `SET` expression against the row as it was).
    pub async fn claim(
        &self,
        kind: &str,
        owner: &str,
        lease: Duration,
    ) -> sqlx::Result<Option<Job>> {
        let now = now_millis();
        sqlx::query_as(
            "UPDATE jobs
                SET attempts = attempts + (state = 'queued'),
                    interruptions = interruptions + (state = 'running'),
                    state = 'running', lease_until = ?, lease_owner = ?, updated_at = ?
              WHERE id = (SELECT id FROM jobs
                           WHERE kind = ?
                             AND ((state = 'queued' AND run_after <= ?) OR (state = 'running' AND lease_until < ?))
                           ORDER BY run_after, id
                           LIMIT 1)
             RETURNING id, kind, payload, resource, attempts AS attempt, max_attempts, interruptions, lease_owner",
        )
        .bind(now + millis(lease))
        .bind(owner)
        .bind(now)
        .bind(kind)
        .bind(now)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
    }

    /// Renews the lease. False when the job is no longer this worker's (it was
    /// cancelled, or its lease ran out and another worker took it).
    pub async fn heartbeat(&self, job: &Job, lease: Duration) -> sqlx::Result<bool> {
        let now = now_millis();
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(now + millis(lease))
        .bind(now)
        .bind(job.id)
        .bind(&job.lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The job succeeded: its row goes.
    pub async fn complete(&self, job: &Job) -> sqlx::Result<bool> {
        let done =
            sqlx::query("DELETE FROM jobs WHERE id = ? AND lease_owner = ? AND state = 'running'")
                .bind(job.id)
                .bind(&job.lease_owner)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queues the job again after the backoff for this attempt.
    pub async fn retry_later(&self, job: &Job, error: &str) -> sqlx::Result<Duration> {
        let delay = self.retry.delay(job.attempt);
        let now = now_millis();
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_after = ?, lease_until = NULL, lease_owner = NULL,
                    last_error = ?, updated_at = ?
              WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(now + millis(delay))
        .bind(error)
        .bind(now)
        .bind(job.id)
        .bind(&job.lease_owner)
        .execute(&self.pool)
        .await?;
        Ok(delay)
    }

    /// The job ended without success; the row stays with its error.
    pub async fn fail(&self, job: &Job, error: &str) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', lease_until = NULL, last_error = ?, updated_at = ?
              WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(error)
        .bind(now_millis())
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
        conn: &mut SqliteConnection,
        resource: &str,
    ) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_until = NULL, updated_at = ?
              WHERE resource = ? AND state IN ('queued', 'running')",
        )
        .bind(now_millis())
        .bind(resource)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Puts this owner's running jobs back in the queue without counting the
    /// attempt: a clean shutdown hands its work on at once instead of after the lease.
    pub async fn release(&self, owner: &str) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL, lease_owner = NULL,
                    run_after = ?, updated_at = ?
              WHERE lease_owner = ? AND state = 'running'",
        )
        .bind(now_millis())
        .bind(now_millis())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every job about `resource`, oldest first.
    pub async fn jobs_for(&self, resource: &str) -> sqlx::Result<Vec<JobState>> {
        sqlx::query_as(&format!(
            "SELECT {STATE_COLUMNS} FROM jobs WHERE resource = ? ORDER BY id"
        ))
        .bind(resource)
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
        conn: &mut SqliteConnection,
        resource: Option<&str>,
    ) -> sqlx::Result<Vec<JobState>> {
        let now = now_millis();
        sqlx::query_as(&format!(
            "UPDATE jobs SET state = 'queued', attempts = 0, interruptions = 0, run_after = ?1,
                    lease_until = NULL, lease_owner = NULL, last_error = NULL, updated_at = ?1
              WHERE state = 'failed' AND (?2 IS NULL OR resource = ?2)
             RETURNING {STATE_COLUMNS}"
        ))
        .bind(now)
        .bind(resource)
        .fetch_all(conn)
        .await
    }
}
