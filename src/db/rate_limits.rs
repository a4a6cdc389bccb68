//! Rate-limit buckets shared by every node (GCRA: each bucket is one time,
//! its theoretical arrival time `tat`). A request at `now` is let through when
//! `max(tat, now) + interval - now <= capacity`, and then moves `tat` there.

use super::{Dialect, Pool};

/// What taking a token came to. `backlog_ms` is how far the bucket's `tat` is
/// ahead of now: how long until the bucket is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Allowed { backlog_ms: i64 },
    Refused { backlog_ms: i64 },
}

/// Takes one token from `bucket`, whose tokens come one per `interval_ms` and
/// which holds `capacity_ms / interval_ms` of them. One statement when the
/// token is there; a refusal reads the bucket once more to say how long to wait.
pub async fn take(
    pool: &Pool,
    bucket: &str,
    interval_ms: i64,
    capacity_ms: i64,
) -> sqlx::Result<Taken> {
    let now = Dialect::of(pool).now_millis();
    let later_of = format!("CASE WHEN rate_limits.tat > {now} THEN rate_limits.tat ELSE {now} END");
    let taken: Option<(i64,)> = sqlx::query_as(&format!(
        "INSERT INTO rate_limits (bucket, tat) VALUES ($1, {now} + $2)
         ON CONFLICT (bucket) DO UPDATE SET tat = {later_of} + $2
          WHERE {later_of} + $2 - {now} <= $3
         RETURNING tat - {now}"
    ))
    .bind(bucket)
    .bind(interval_ms)
    .bind(capacity_ms)
    .fetch_optional(pool)
    .await?;
    if let Some((backlog_ms,)) = taken {
        return Ok(Taken::Allowed { backlog_ms });
    }
    let (backlog_ms,): (i64,) = sqlx::query_as(&format!(
        "SELECT tat - {now} FROM rate_limits WHERE bucket = $1"
    ))
    .bind(bucket)
    .fetch_one(pool)
    .await?;
    Ok(Taken::Refused { backlog_ms })
}
