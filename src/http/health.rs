//! `/healthz` (the process answers) and `/readyz` (it can do its work: the
//! database and the storage answer).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorCode;
use super::AppState;
use crate::stats;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: 200 once the server accepts requests.
///
/// Checks nothing else, so that a slow disk does not make an orchestrator
/// restart a working server.
#[utoipa::path(
    get,
    operation_id = "healthz",
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Serving.", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ReadyStatus {
    Ready,
    NotReady,
}

/// Each check's outcome: `ok`, or why not.
#[derive(Serialize, ToSchema)]
struct Checks {
    database: String,
    storage: String,
}

#[derive(Serialize, ToSchema)]
struct Readiness {
    status: ReadyStatus,
    /// `not_ready` when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    code: Option<ErrorCode>,
    /// What failed, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    message: Option<String>,
    checks: Checks,
}

/// How long each check may take before it counts as failed: a load balancer
/// must get an answer sooner than its own timeout.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Readiness: 200 while the database answers and the storage takes a file
/// (and with S3 the bucket answers).
///
/// Each check has 2 s. While one fails, 503 with `code` `not_ready`, a
/// `message` naming what failed, and each check's outcome, so that a load
/// balancer sends requests elsewhere while this node cannot serve them.
#[utoipa::path(
    get,
    operation_id = "readyz",
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "Not ready.", body = Readiness),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Response {
    let database = check(async {
        sqlx::query("SELECT 1").execute(&state.pool).await?;
        Ok(())
    })
    .await;
    let storage = check(state.storage.check_ready()).await;
    if database.is_err() {
        stats::error(stats::ErrorSource::Database);
    }
    if storage.is_err() {
        stats::error(stats::ErrorSource::Storage);
    }
    let outcome = |result: &Result<(), String>| {
        result
            .as_ref()
            .err()
            .map_or("ok", String::as_str)
            .to_string()
    };
    let checks = Checks {
        database: outcome(&database),
        storage: outcome(&storage),
    };
    if database.is_ok() && storage.is_ok() {
        return Json(Readiness {
            status: ReadyStatus::Ready,
            code: None,
            message: None,
            checks,
        })
        .into_response();
    }
    let failed: Vec<String> = [("database", &database), ("storage", &storage)]
        .into_iter()
        .filter_map(|(name, result)| result.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    tracing::warn!(failed = %failed.join("; "), "not ready");
    let body = Readiness {
        status: ReadyStatus::NotReady,
        code: Some(ErrorCode::NotReady),
        message: Some(format!(
            "This node cannot serve requests now ({}).",
            failed.join("; ")
        )),
        checks,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// A check's outcome within [`CHECK_TIMEOUT`]: its error, in one line.
async fn check(probe: impl std::future::Future<Output = anyhow::Result<()>>) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}
