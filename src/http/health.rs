//! `/healthz` (the process answers) and `/readyz` (it can do its work: the
//! database and the storage answer).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;
use crate::stats;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Answers once the server accepts requests; checks nothing else, so that a
/// slow disk does not make an orchestrator restart a working server.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// How long each check may take before it counts as failed: a load balancer
/// must get an answer sooner than its own timeout.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 when the database answers a query and the storage takes a file (and
/// with S3 the bucket answers); else 503 with what failed, so that a load
/// balancer sends requests elsewhere while this node cannot serve them.
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
    let checks = json!({
        "database": database.as_ref().err().map_or("ok", String::as_str),
        "storage": storage.as_ref().err().map_or("ok", String::as_str),
    });
    if database.is_ok() && storage.is_ok() {
        return Json(json!({"status": "ready", "checks": checks})).into_response();
    }
    let failed: Vec<String> = [("database", &database), ("storage", &storage)]
        .into_iter()
        .filter_map(|(name, result)| result.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    tracing::warn!(failed = %failed.join("; "), "not ready");
    let body = json!({
        "status": "not_ready",
        "code": "not_ready",
        "message": format!("This node cannot serve requests now ({}).", failed.join("; ")),
        "checks": checks,
    });
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
