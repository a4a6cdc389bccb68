//! Per-account rate limit of `POST /v1.3/assets`: a token bucket (governor's
//! GCRA, so no timer task and no per-request allocation) with a configurable
//! rate and burst. Every response of the limited endpoint carries
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
use crate::domain::AccountId;

type Keyed = RateLimiter<
    AccountId,
    DefaultKeyedStateStore<AccountId>,
    DefaultClock,
    StateInformationMiddleware,
>;

pub struct CreateLimiter {
    limiter: Keyed,
    clock: DefaultClock,
    burst: u32,
    per_token: Duration,
}

enum Decision {
    Allowed { remaining: u32 },
    Limited { retry_after: Duration },
}

impl CreateLimiter {
    /// None when `per_minute` is 0 (no limit).
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let quota = Quota::per_minute(rate).allow_burst(burst);
        let clock = DefaultClock::default();
        Some(Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
            clock,
            burst: burst.get(),
            per_token: quota.replenish_interval(),
        })
    }

    fn check(&self, account: AccountId) -> Decision {
        match self.limiter.check_key(&account) {
            Ok(state) => Decision::Allowed {
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Limited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
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
    match limiter.check(account.0) {
        Decision::Allowed { remaining } => {
            let mut response = next.run(Request::from_parts(parts, body)).await;
            limiter.headers(remaining, response.headers_mut());
            response
        }
        Decision::Limited { retry_after } => {
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
