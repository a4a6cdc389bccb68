//! Webhook endpoints, the outbox of their events, and the delivery attempts.

use sqlx::FromRow;

use super::{Connection, Pool};
use crate::domain::{AccountId, AssetId};

/// An endpoint as stored (its secret included: only the delivery reads it).
#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub secret: String,
    /// JSON array of event types.
    pub events: String,
    pub created_at: i64,
}

const WEBHOOK_COLUMNS: &str = "id, account_id, url, secret, events, created_at";

pub async fn insert(pool: &Pool, webhook: &WebhookRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, account_id, url, secret, events, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&webhook.id)
    .bind(&webhook.account_id)
    .bind(&webhook.url)
    .bind(&webhook.secret)
    .bind(&webhook.events)
    .bind(webhook.created_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The account's endpoints, oldest first.
pub async fn list(pool: &Pool, account: AccountId) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY created_at, id"
    ))
    .bind(account.as_string())
    .fetch_all(pool)
    .await
}

/// An endpoint of this account.
pub async fn find(pool: &Pool, account: AccountId, id: &str) -> sqlx::Result<Option<WebhookRow>> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = $1 AND id = $2"
    ))
    .bind(account.as_string())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// An endpoint of any account: for its deliveries.
pub async fn find_any(pool: &Pool, id: &str) -> sqlx::Result<Option<WebhookRow>> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Removes the endpoint; its delivery records go with it (ON DELETE
/// CASCADE). False when the account has no such endpoint.
pub async fn delete(pool: &Pool, account: AccountId, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE account_id = $1 AND id = $2")
        .bind(account.as_string())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The endpoints of an asset's account, in the caller's transaction: those
/// an event about it may go to. One indexed query (none, for most accounts).
pub async fn of_asset_account(
    conn: &mut Connection,
    asset: AssetId,
) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as(
        "SELECT w.id, w.account_id, w.url, w.secret, w.events, w.created_at
           FROM assets a JOIN webhooks w ON w.account_id = a.account_id
          WHERE a.id = $1 ORDER BY w.id",
    )
    .bind(asset.as_string())
    .fetch_all(conn)
    .await
}

/// An event as stored in the outbox.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: String,
    pub account_id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub data: String,
    pub created_at: i64,
}

pub async fn insert_event(conn: &mut Connection, event: &EventRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_events (id, account_id, type, data, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&event.id)
    .bind(&event.account_id)
    .bind(&event.event_type)
    .bind(&event.data)
    .bind(event.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_event(pool: &Pool, id: &str) -> sqlx::Result<Option<EventRow>> {
    sqlx::query_as(
        "SELECT id, account_id, type, data, created_at FROM webhook_events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Removes events made before `before` (Unix ms) and, with them, their
/// delivery records; in batches, so that no write waits long. The count.
pub async fn prune_events(pool: &Pool, before: i64) -> sqlx::Result<u64> {
    let mut removed = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM webhook_events WHERE id IN
               (SELECT id FROM webhook_events WHERE created_at < $1 ORDER BY created_at LIMIT 1000)",
        )
        .bind(before)
        .execute(pool)
        .await?;
        removed += done.rows_affected();
        if done.rows_affected() == 0 {
            return Ok(removed);
        }
    }
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub event_id: String,
    pub event_type: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at: i64,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_delivery(
    pool: &Pool,
    webhook: &str,
    event: &str,
    attempt: u32,
    status_code: Option<u16>,
    error: Option<&str>,
    duration_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, attempt, status_code, error, duration_ms, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(webhook)
    .bind(event)
    .bind(i64::from(attempt))
    .bind(status_code.map(i64::from))
    .bind(error)
    .bind(duration_ms)
    .bind(super::now_millis())
    .execute(pool)
    .await?;
    Ok(())
}

/// The endpoint's last `limit` delivery attempts, newest first.
pub async fn deliveries(pool: &Pool, webhook: &str, limit: u32) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as(
        "SELECT d.event_id, e.type AS event_type, d.attempt, d.status_code, d.error, d.duration_ms, d.created_at
           FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
          WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2",
    )
    .bind(webhook)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
}
