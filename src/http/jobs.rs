//! `GET /v1.3/jobs`: the background work on the account's assets (for the
//! console's operator view), and `POST /v1.3/assets/{asset_id}/retry`, which
//! queues an asset's failed work again (as `assetd jobs retry --asset` does).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Account;
use super::error::{ApiError, ErrorBody};
use super::extractors::{Json, Path};
use super::AppState;
use crate::assets::{self, RetryScope};
use crate::db;
use crate::domain::{AssetId, Timestamp};

/// The failed jobs one read shows, the latest first.
const FAILED_SHOWN: u32 = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(retry))
}

/// How many jobs of a kind are in a state.
#[derive(Serialize, ToSchema)]
struct JobCount {
    /// `probe`, `fetch`, `thumbnail`, `hls`, `assemble`, ...
    kind: String,
    /// `queued` (waiting for a worker), `scheduled` (queued for later: a
    /// retry in its backoff, a session's expiry check), `running`, `failed`
    /// or `cancelled` (done jobs are deleted).
    state: String,
    count: i64,
}

/// A job that failed for good.
#[derive(Serialize, ToSchema)]
struct FailedJobView {
    id: i64,
    kind: String,
    asset_id: String,
    attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last_error: Option<String>,
    updated_at: Timestamp,
}

/// The background work on the account's assets.
#[derive(Serialize, ToSchema)]
struct Jobs {
    counts: Vec<JobCount>,
    /// The last 50 failed jobs, the latest first.
    failed: Vec<FailedJobView>,
}

/// The background work on this account's assets: jobs by kind and state,
/// and the failed ones with their errors.
#[utoipa::path(
    get,
    path = "/jobs",
    operation_id = "list_jobs",
    tag = "operations",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Counts and failed jobs.", body = Jobs),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
async fn overview(
    State(state): State<AppState>,
    Account(account): Account,
) -> Result<Json<Jobs>, ApiError> {
    let counts = db::jobs::counts(&state.pool, account)
        .await?
        .into_iter()
        .map(|(kind, state, count)| JobCount { kind, state, count })
        .collect();
    let failed = db::jobs::failed(&state.pool, account, FAILED_SHOWN)
        .await?
        .into_iter()
        .map(|job| FailedJobView {
            id: job.id,
            kind: job.kind,
            asset_id: job.resource,
            attempts: job.attempts,
            last_error: job.last_error,
            updated_at: Timestamp::from_millis(job.updated_at),
        })
        .collect();
    Ok(Json(Jobs { counts, failed }))
}

/// What a retry queued again.
#[derive(Serialize, ToSchema)]
struct Retried {
    asset_id: String,
    /// The kinds of the jobs queued again; empty when none had failed.
    retried: Vec<String>,
}

/// Queue an asset's failed jobs again, with fresh attempts.
///
/// A failed probe or download puts the asset back to `processing`, a failed
/// thumbnail or HLS step back to `pending`.
#[utoipa::path(
    post,
    path = "/assets/{asset_id}/retry",
    operation_id = "retry_asset_jobs",
    tag = "operations",
    security(("apiKey" = [])),
    params(("asset_id" = String, Path)),
    responses(
        (status = 200, description = "What was queued again.", body = Retried),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such asset in this account.", body = ErrorBody),
    ),
)]
async fn retry(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_id): Path<String>,
) -> Result<Json<Retried>, ApiError> {
    let not_found = || ApiError::not_found("asset", &raw_id);
    let id = AssetId::parse(&raw_id).map_err(|_| not_found())?;
    if db::assets::find(&state.pool, account, id).await?.is_none() {
        return Err(not_found());
    }
    let retried = assets::retry_failed(&state.pool, &state.queue, RetryScope::Asset(id))
        .await?
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    Ok(Json(Retried {
        asset_id: id.as_string(),
        retried,
    }))
}
