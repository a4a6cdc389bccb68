//! `/v1.3/webhooks`: an account's endpoints for event notifications, and the
//! last deliveries of each. The signing secret is shown once, when the
//! endpoint is made.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Account;
use super::error::ApiError;
use super::extractors::{Json, Path};
use super::AppState;
use crate::assets::events::{self, EventType};
use crate::db;
use crate::db::webhooks::{DeliveryRow, WebhookRow};
use crate::domain::Timestamp;
use crate::webhooks::{self, CreateError};

/// The deliveries one read shows, newest first.
const DELIVERIES_SHOWN: u32 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{webhook_id}", get(retrieve).delete(remove))
        .route("/webhooks/{webhook_id}/deliveries", get(deliveries))
}

#[derive(Deserialize)]
struct CreateWebhook {
    url: Option<String>,
    events: Option<Vec<String>>,
}

/// An endpoint as the API shows it: never its secret.
#[derive(Serialize)]
struct WebhookView {
    #[serde(rename = "_id")]
    id: String,
    url: String,
    events: Vec<EventType>,
    created_at: Timestamp,
}

impl From<WebhookRow> for WebhookView {
    fn from(row: WebhookRow) -> Self {
        Self {
            events: events::taken_by(&row),
            id: row.id,
            url: row.url,
            created_at: Timestamp::from_millis(row.created_at),
        }
    }
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found("webhook", raw)
}

async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    Json(body): Json<CreateWebhook>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let row = webhooks::create(
        &state.pool,
        &state.fetcher,
        account,
        body.url.as_deref(),
        body.events.as_deref(),
    )
    .await
    .map_err(|e| match e {
        CreateError::Missing(name) => ApiError::ParameterNotProvided(name),
        CreateError::Invalid { name, reason } => ApiError::invalid(name, reason),
        CreateError::NotAllowed(message) => ApiError::UrlNotAllowed(message),
        CreateError::Database(e) => e.into(),
    })?;
    let secret = row.secret.clone();
    let mut view = serde_json::to_value(WebhookView::from(row)).map_err(anyhow::Error::from)?;
    view["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<AppState>,
    Account(account): Account,
) -> Result<Json<Value>, ApiError> {
    let webhooks: Vec<WebhookView> = db::webhooks::list(&state.pool, account)
        .await?
        .into_iter()
        .map(WebhookView::from)
        .collect();
    Ok(Json(json!({ "data": webhooks })))
}

async fn retrieve(
    State(state): State<AppState>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let row = db::webhooks::find(&state.pool, account, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(row.into()))
}

async fn remove(
    State(state): State<AppState>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if db::webhooks::delete(&state.pool, account, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

#[derive(Serialize)]
struct DeliveryView {
    event_id: String,
    #[serde(rename = "type")]
    event_type: String,
    attempt: i64,
    /// The receiver's HTTP status; null when it gave no answer.
    status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: i64,
    created_at: Timestamp,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> Self {
        Self {
            event_id: row.event_id,
            event_type: row.event_type,
            attempt: row.attempt,
            status_code: row.status_code,
            error: row.error,
            duration_ms: row.duration_ms,
            created_at: Timestamp::from_millis(row.created_at),
        }
    }
}

/// The endpoint's last deliveries, newest first.
async fn deliveries(
    State(state): State<AppState>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    db::webhooks::find(&state.pool, account, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let shown: Vec<DeliveryView> = db::webhooks::deliveries(&state.pool, &id, DELIVERIES_SHOWN)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect();
    Ok(Json(json!({ "data": shown })))
}
