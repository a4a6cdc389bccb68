use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// Answers once the server accepts requests; checks nothing else, so that a
/// slow disk does not make an orchestrator restart a working server.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
