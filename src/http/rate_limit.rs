//! Per-account rate limit of `POST /v1.3/assets`: a token bucket (GCRA, so no
//! timer task) with a configurable rate and burst. The only server on a SQLite
//! database keeps its buckets in memory (governor, no per-request allocation);
//! nodes on PostgreSQL share theirs in the database (`db::rate_limits`, one
//! statement per allowed request), so that the limit holds for the cluster. Every response of the limited endpoint carries
//! `X-Ratelimit-Limit` (the bucket's size), `X-Ratelimit-Remaining` and
//! `X-Ratelimit-Reset` (seconds until the bucket is full again); a refusal is
//! 429 with `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::auth::Account;
use super::error::ApiError;
use super::AppState;
use crate::db::{self, rate_limits::Taken};
use crate::domain::AccountId;

type Keyed = RateLimiter<
    AccountId,
    DefaultKeyedStateStore<AccountId>,
    DefaultClock,
    StateInformationMiddleware,
>;

pub struct CreateLimiter {
    buckets: Buckets,
    burst: u32,
    per_token: Duration,
}

enum Buckets {
    /// This server's own: it is the only one (SQLite).
    Memory { limiter: Keyed, clock: DefaultClock },
    /// Shared by every node, in the database (PostgreSQL).
    Shared(db::Pool),
}

enum Decision {
    Allowed { remaining: u32 },
    Limited { retry_after: Duration },
}

impl CreateLimiter {
    /// None when `per_minute` is 0 (no limit). Buckets live in `pool` when it
    /// is PostgreSQL's, which other nodes may share.
    pub fn new(per_minute: u32, burst: u32, pool: &db::Pool) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let quota = Quota::per_minute(rate).allow_burst(burst);
        let buckets = match db::Dialect::of(pool) {
            db::Dialect::Postgres => Buckets::Shared(pool.clone()),
            db::Dialect::Sqlite => {
                let clock = DefaultClock::default();
                Buckets::Memory {
                    limiter: RateLimiter::dashmap_with_clock(quota, clock.clone())
                        .with_middleware::<StateInformationMiddleware>(),
                    clock,
                }
            }
        };
        Some(Self {
            buckets,
            burst: burst.get(),
            per_token: quota.replenish_interval(),
        })
    }

    async fn check(&self, account: AccountId) -> Result<Decision, ApiError> {
        match &self.buckets {
            Buckets::Memory { limiter, clock } => Ok(match limiter.check_key(&account) {
                Ok(state) => Decision::Allowed {
                    remaining: state.remaining_burst_capacity(),
                },
                Err(not_until) => Decision::Limited {
                    retry_after: not_until.wait_time_from(clock.now()),
                },
            }),
            Buckets::Shared(pool) => {
                let interval = millis(self.per_token);
                let capacity = interval * i64::from(self.burst);
                let bucket = format!("create:{account}");
                Ok(
                    match db::rate_limits::take(pool, &bucket, interval, capacity).await? {
                        Taken::Allowed { backlog_ms } => Decision::Allowed {
                            remaining: u32::try_from((capacity - backlog_ms).max(0) / interval)
                                .unwrap_or(0),
                        },
                        Taken::Refused { backlog_ms } => Decision::Limited {
                            retry_after: Duration::from_millis(
                                u64::try_from(backlog_ms + interval - capacity).unwrap_or(0),
                            ),
                        },
                    },
                )
            }
        }
    }

    fn headers(&self, remaining: u32, headers: &mut HeaderMap) {
        let refill = self.per_token * (self.burst - remaining.min(self.burst));
        let mut put = |name: &'static str, value: u64| {
            headers.insert(name, HeaderValue::from(value));
        };
        put("x-ratelimit-limit", u64::from(self.burst));
        put("x-ratelimit-remaining", u64::from(remaining));
        put("x-ratelimit-reset", refill.as_secs_f64().ceil() as u64);
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// Seconds to wait, rounded up: a client that waits this long gets through.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

/// Middleware on the assets route; only POST is limited.
pub async fn limit_creates(
    State((state, limiter)): State<(AppState, Arc<CreateLimiter>)>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    // Authenticate here so that the bucket is the account's; the handler finds
    // the account in the extensions instead of looking it up again.
    let account = match Account::from_request_parts(&mut parts, &state).await {
        Ok(account) => account,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(account);
    let decision = match limiter.check(account.0).await {
        Ok(decision) => decision,
        Err(e) => return e.into_response(),
    };
    match decision {
        Decision::Allowed { remaining } => {
            let mut response = next.run(Request::from_parts(parts, body)).await;
            limiter.headers(remaining, response.headers_mut());
            response
        }
        Decision::Limited { retry_after } => {
            crate::stats::rate_limited();
            let seconds = whole_seconds(retry_after);
            let mut response = ApiError::TooManyRequests {
                retry_after_secs: seconds,
            }
            .into_response();
            let headers = response.headers_mut();
            limiter.headers(0, headers);
            headers.insert("retry-after", HeaderValue::from(seconds));
            response
        }
    }
}
