//! The job queue's table as an account sees it: the jobs about its assets.
//! (The queue crate owns the table and knows no accounts; these reads join
//! it with the assets.)

use super::Pool;
use crate::domain::AccountId;

/// How many of the account's jobs there are of each kind in each state
/// (done jobs are deleted): `(kind, state, count)`. A queued job whose time
/// has not come (a retry in its backoff, a session's expiry check) counts as
/// `scheduled`: it is not work waiting for a worker. Driven by the jobs,
/// which are few, each checked against its asset by primary key.
pub async fn counts(pool: &Pool, account: AccountId) -> sqlx::Result<Vec<(String, String, i64)>> {
    let now = super::Dialect::of(pool).now_millis();
    sqlx::query_as(&format!(
        "SELECT kind, CASE WHEN state = 'queued' AND run_after > {now} THEN 'scheduled'
                           ELSE state END AS shown,
                COUNT(*)
           FROM jobs j
          WHERE EXISTS (SELECT 1 FROM assets a WHERE a.id = j.resource AND a.account_id = $1)
          GROUP BY kind, shown
          ORDER BY kind, shown"
    ))
    .bind(account.as_string())
    .fetch_all(pool)
    .await
}

/// A failed job of the account's.
#[derive(Debug, sqlx::FromRow)]
pub struct FailedJob {
    pub id: i64,
    pub kind: String,
    /// The asset it is about.
    pub resource: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// The account's failed jobs, the latest first.
pub async fn failed(pool: &Pool, account: AccountId, limit: u32) -> sqlx::Result<Vec<FailedJob>> {
    sqlx::query_as(
        "SELECT id, kind, resource, attempts, last_error, updated_at FROM jobs j
          WHERE state = 'failed'
            AND EXISTS (SELECT 1 FROM assets a WHERE a.id = j.resource AND a.account_id = $1)
          ORDER BY updated_at DESC, id DESC
          LIMIT $2",
    )
    .bind(account.as_string())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}
