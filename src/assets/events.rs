//! Webhook events, as an outbox: an event is written in the transaction of
//! the change it reports, with one delivery job per endpoint that takes it,
//! so that a status never changes without its event, even across a crash.
//! The body's `data` is the asset as `GET /assets/{id}` showed it at that
//! moment (a deleted asset can no longer be read).

use anyhow::Context;
use serde::{Serialize, Serializer};

use super::view::AssetView;
use assetd_queue::{Queue, RetryPolicy};

use crate::app::App;
use crate::db::{self, webhooks::WebhookRow, Connection};
use crate::domain::{AccountId, AssetId, AssetStatus, Step, StepStatus};
use crate::signing::UrlSigner;

/// What an event reports (the platform's notification `type`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    AssetReady,
    AssetFailed,
    AssetDeleted,
    HlsReady,
    HlsError,
    ThumbnailReady,
    ThumbnailError,
    MultipartCompleted,
    MultipartExpired,
}

/// The event names, for the OpenAPI document.
impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for EventType {
    fn name() -> std::borrow::Cow<'static, str> {
        "WebhookEventType".into()
    }
}

impl EventType {
    pub const ALL: [Self; 9] = [
        Self::AssetReady,
        Self::AssetFailed,
        Self::AssetDeleted,
        Self::HlsReady,
        Self::HlsError,
        Self::ThumbnailReady,
        Self::ThumbnailError,
        Self::MultipartCompleted,
        Self::MultipartExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssetReady => "asset.ready",
            Self::AssetFailed => "asset.failed",
            Self::AssetDeleted => "asset.deleted",
            Self::HlsReady => "asset.hls.ready",
            Self::HlsError => "asset.hls.error",
            Self::ThumbnailReady => "asset.thumbnail.ready",
            Self::ThumbnailError => "asset.thumbnail.error",
            Self::MultipartCompleted => "multipart_upload.completed",
            Self::MultipartExpired => "multipart_upload.expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == raw)
    }

    /// The event of an asset reaching `status`; None while it is processing.
    pub fn of_status(status: AssetStatus) -> Option<Self> {
        match status {
            AssetStatus::Processing => None,
            AssetStatus::Ready => Some(Self::AssetReady),
            AssetStatus::Failed => Some(Self::AssetFailed),
        }
    }

    /// The event of a step reaching `status`; None for the statuses on the way.
    pub fn of_step(step: Step, status: StepStatus) -> Option<Self> {
        match (step, status) {
            (Step::Hls, StepStatus::Ready) => Some(Self::HlsReady),
            (Step::Hls, StepStatus::Error) => Some(Self::HlsError),
            (Step::Thumbnail, StepStatus::Ready) => Some(Self::ThumbnailReady),
            (Step::Thumbnail, StepStatus::Error) => Some(Self::ThumbnailError),
            _ => None,
        }
    }
}

/// Sets a step's status and, when the step ends (`ready` or `error`), records
/// its event, in one transaction. False when the asset is gone.
pub async fn set_step(
    app: &App,
    id: AssetId,
    step: Step,
    status: StepStatus,
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let mut tx = app.pool.begin().await?;
    if !db::assets::set_step(&mut *tx, id, step, status, error).await? {
        return Ok(false);
    }
    if let Some(event) = EventType::of_step(step, status) {
        record_asset(&app.outbox(), &mut tx, event, id).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// By its name (`as_str`), as the API shows an endpoint's events.
impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The event types an endpoint takes (stored as a JSON array of names; a
/// name this version does not know is left out).
pub fn taken_by(endpoint: &WebhookRow) -> Vec<EventType> {
    serde_json::from_str::<Vec<String>>(&endpoint.events)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| EventType::parse(name))
        .collect()
}

/// What recording an event needs besides the caller's transaction: how the
/// asset is shown (its media URLs' signer and base), and where its deliveries
/// are queued.
pub struct Outbox<'a> {
    pub signer: &'a UrlSigner,
    pub base: &'a url::Url,
    pub queue: &'a Queue,
    pub retry: RetryPolicy,
}

impl App {
    /// The outbox of a server: its signer, its public base, its queue.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox {
            signer: &self.signer,
            base: self.public_base(),
            queue: &self.queue,
            retry: self.config.retry_policy(),
        }
    }
}

/// Records `event` about asset `id`, as the asset is now in the caller's
/// transaction: the event row and a delivery job for each endpoint of the
/// asset's account that takes it. Most accounts have none: that costs one
/// indexed query, and no row is written.
pub async fn record_asset(
    outbox: &Outbox<'_>,
    conn: &mut Connection,
    event: EventType,
    id: AssetId,
) -> anyhow::Result<()> {
    let endpoints = db::webhooks::of_asset_account(&mut *conn, id).await?;
    let takers: Vec<_> = endpoints
        .iter()
        .filter(|endpoint| taken_by(endpoint).contains(&event))
        .collect();
    let Some(first) = takers.first() else {
        return Ok(());
    };
    let account = first.account_id.clone();
    let Some(asset) = db::assets::find(&mut *conn, parse_account(&account)?, id).await? else {
        return Ok(());
    };
    let view = AssetView::new(asset, outbox.signer, outbox.base);
    let data = serde_json::to_string(&view).context("writing an event's asset")?;
    let row = db::webhooks::EventRow {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        account_id: account,
        event_type: event.as_str().to_string(),
        data,
        created_at: db::now_millis(),
    };
    db::webhooks::insert_event(&mut *conn, &row).await?;
    for endpoint in takers {
        let job = super::plan::delivery_job(&row.id, &endpoint.id, &outbox.retry);
        outbox.queue.enqueue(&mut *conn, &job).await?;
    }
    Ok(())
}

fn parse_account(raw: &str) -> anyhow::Result<AccountId> {
    AccountId::parse(raw).map_err(|_| anyhow::anyhow!("bad account id '{raw}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_and_steps_map_to_their_events() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                serde_json::json!(event.as_str())
            );
        }
        assert_eq!(EventType::parse("asset.created"), None);
        assert_eq!(
            EventType::of_step(Step::Hls, StepStatus::Error),
            Some(EventType::HlsError)
        );
        assert_eq!(
            EventType::of_step(Step::Thumbnail, StepStatus::Processing),
            None
        );
        let endpoint = |events: &str| WebhookRow {
            id: "wh_1".into(),
            account_id: "a".into(),
            url: "https://example.com/".into(),
            secret: "whsec_1".into(),
            events: events.into(),
            created_at: 0,
        };
        let both = endpoint(r#"["asset.ready","asset.deleted","asset.renamed"]"#);
        assert!(taken_by(&both).contains(&EventType::AssetDeleted));
        assert!(!taken_by(&endpoint(r#"["asset.ready"]"#)).contains(&EventType::AssetFailed));
        assert_eq!(taken_by(&both).len(), 2, "an unknown name is left out");
        assert_eq!(EventType::of_status(AssetStatus::Processing), None);
        assert_eq!(
            EventType::of_status(AssetStatus::Failed),
            Some(EventType::AssetFailed)
        );
    }
}
