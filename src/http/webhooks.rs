//! `/v1.3/webhooks`: an account's endpoints for event notifications, and the
//! last deliveries of each. The signing secret is shown once, when the
//! endpoint is made.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Account;
use super::error::{ApiError, ErrorBody};
use super::extractors::{Json, Path};
use super::AppState;
use crate::assets::events::{self, EventType};
use crate::db;
use crate::db::webhooks::{DeliveryRow, WebhookRow};
use crate::domain::Timestamp;
use crate::webhooks::{self, CreateError};

/// The deliveries one read shows, newest first.
const DELIVERIES_SHOWN: u32 = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(retrieve, remove))
        .routes(routes!(deliveries))
}

#[derive(Deserialize, ToSchema)]
struct CreateWebhook {
    /// Where events are POSTed: http or https.
    #[schema(value_type = String, format = "uri")]
    url: Option<String>,
    /// The event types it takes; all when left out or null.
    #[schema(value_type = Option<Vec<EventType>>, min_items = 1)]
    events: Option<Vec<String>>,
}

/// A webhook endpoint as the API shows it: never its secret.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
struct WebhookView {
    #[schema(example = "wh_0123456789abcdef0123456789abcdef")]
    #[serde(rename = "_id")]
    id: String,
    url: String,
    events: Vec<EventType>,
    created_at: Timestamp,
}

/// A new endpoint, with its signing secret: shown only in this answer.
#[derive(Serialize, ToSchema)]
struct NewWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    #[schema(example = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef")]
    secret: String,
}

/// An account's endpoints.
#[derive(Serialize, ToSchema)]
struct Webhooks {
    data: Vec<WebhookView>,
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

/// Register a webhook endpoint for this account's events.
///
/// Events are POSTed as `{"id", "created_at", "type", "data"}`, `data` being
/// the asset as `GET /v1.3/assets/{asset_id}` showed it when the event
/// happened; an event keeps its `id` across retries. Each request carries
/// `TL-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw
/// body)>`. Delivered at least once: anything but a 2xx answer (10 s per
/// attempt, no redirect followed) is tried again with backoff for at least 24
/// hours. The URL passes the same guard as URL uploads
/// (`ASSETD_ALLOW_PRIVATE_URLS` lifts it): 400 `url_not_allowed` otherwise.
/// At most 20 per account.
#[utoipa::path(
    post,
    operation_id = "create_webhook",
    path = "/webhooks",
    tag = "webhooks",
    security(("apiKey" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Registered; `secret` is shown only here.", body = NewWebhook, links(
            ("retrieve" = (operation_id = "retrieve_webhook", parameters(("webhook_id" = "$response.body#/_id")))),
            ("delete" = (operation_id = "delete_webhook", parameters(("webhook_id" = "$response.body#/_id")))),
            ("deliveries" = (operation_id = "list_webhook_deliveries", parameters(("webhook_id" = "$response.body#/_id")))),
        )),
        (status = 400, description = "A field is missing or invalid, the URL is refused, or the account has 20 already.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    Json(body): Json<CreateWebhook>,
) -> Result<(StatusCode, Json<NewWebhook>), ApiError> {
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
    Ok((
        StatusCode::CREATED,
        Json(NewWebhook {
            webhook: row.into(),
            secret,
        }),
    ))
}

/// This account's webhook endpoints, oldest first (never their secrets).
#[utoipa::path(
    get,
    operation_id = "list_webhooks",
    path = "/webhooks",
    tag = "webhooks",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The endpoints.", body = Webhooks),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    Account(account): Account,
) -> Result<Json<Webhooks>, ApiError> {
    let webhooks: Vec<WebhookView> = db::webhooks::list(&state.pool, account)
        .await?
        .into_iter()
        .map(WebhookView::from)
        .collect();
    Ok(Json(Webhooks { data: webhooks }))
}

/// Retrieve a webhook endpoint.
#[utoipa::path(
    get,
    operation_id = "retrieve_webhook",
    path = "/webhooks/{webhook_id}",
    tag = "webhooks",
    security(("apiKey" = [])),
    params(("webhook_id" = String, Path)),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookView),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such endpoint in this account.", body = ErrorBody),
    ),
)]
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

/// Remove a webhook endpoint; its pending deliveries are dropped.
#[utoipa::path(
    delete,
    operation_id = "delete_webhook",
    path = "/webhooks/{webhook_id}",
    tag = "webhooks",
    security(("apiKey" = [])),
    params(("webhook_id" = String, Path)),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such endpoint in this account.", body = ErrorBody),
    ),
)]
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

/// One delivery attempt.
#[derive(Serialize, ToSchema)]
#[schema(as = Delivery)]
struct DeliveryView {
    event_id: String,
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    event_type: String,
    attempt: i64,
    /// The receiver's HTTP status; null when it gave no answer.
    status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
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

/// An endpoint's deliveries.
#[derive(Serialize, ToSchema)]
struct Deliveries {
    data: Vec<DeliveryView>,
}

/// The endpoint's last 50 delivery attempts, newest first.
#[utoipa::path(
    get,
    operation_id = "list_webhook_deliveries",
    path = "/webhooks/{webhook_id}/deliveries",
    tag = "webhooks",
    security(("apiKey" = [])),
    params(("webhook_id" = String, Path)),
    responses(
        (status = 200, description = "The attempts.", body = Deliveries),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such endpoint in this account.", body = ErrorBody),
    ),
)]
async fn deliveries(
    State(state): State<AppState>,
    Account(account): Account,
    Path(id): Path<String>,
) -> Result<Json<Deliveries>, ApiError> {
    db::webhooks::find(&state.pool, account, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let shown: Vec<DeliveryView> = db::webhooks::deliveries(&state.pool, &id, DELIVERIES_SHOWN)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect();
    Ok(Json(Deliveries { data: shown }))
}
