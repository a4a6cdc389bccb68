//! The wire form of an asset (create, retrieve, and each list item).

use serde::Serialize;
use serde_json::value::RawValue;
use url::Url;
use utoipa::ToSchema;

use crate::db::assets::AssetRecord;
use crate::domain::{AssetMethod, AssetStatus, StepStatus, Timestamp};
use crate::signing::{now_secs, UrlSigner};

/// An asset. Fields without a value are left out, never null.
#[derive(Serialize, ToSchema)]
#[schema(as = Asset)]
pub struct AssetView {
    /// 32 hexadecimal digits (a UUIDv7).
    #[serde(rename = "_id")]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    id: String,
    method: AssetMethod,
    status: AssetStatus,
    filename: String,
    /// The MIME type detected from the content.
    file_type: String,
    /// Bytes; absent while processing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    size: Option<u64>,
    /// Seconds; video and audio only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    duration: Option<f64>,
    created_at: Timestamp,
    /// Only when requested, for video and audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    hls: Option<HlsView>,
    /// Only when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    thumbnail: Option<ThumbnailView>,
    /// Probe results in the platform's field names (`file_size_bytes`,
    /// `video_codec`, `audio_streams`, `image_width`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<Object>)]
    technical_metadata: Option<Box<RawValue>>,
    /// Only when the asset failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<ErrorView>,
    /// Only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<Object>)]
    user_metadata: Option<Box<RawValue>>,
}

#[derive(Serialize, ToSchema)]
struct HlsView {
    status: StepStatus,
    /// Signed and expiring (renewed on every read); only when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    manifest_url: Option<String>,
    /// Only when the status is error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<ErrorView>,
}

#[derive(Serialize, ToSchema)]
struct ThumbnailView {
    status: StepStatus,
    /// Signed and expiring (renewed on every read); only when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    representative_url: Option<String>,
    /// Only when the status is error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<ErrorView>,
}

#[derive(Serialize, ToSchema)]
struct ErrorView {
    message: String,
}

impl AssetView {
    /// The wire form of an asset. Media URLs are signed afresh on every read,
    /// which is what renews their expiry; they start with `base`.
    pub fn new(a: AssetRecord, signer: &UrlSigner, base: &Url) -> Self {
        // Stored as JSON text and sent as it is: checked, not rebuilt.
        let json = |text: Option<String>| text.and_then(|t| RawValue::from_string(t).ok());
        let ready = |status: Option<StepStatus>| status == Some(StepStatus::Ready);
        let prefix = (ready(a.hls_status) || ready(a.thumbnail_status))
            .then(|| signer.media_prefix(base, a.id, now_secs()));
        let url_if_ready = |status: StepStatus, file: &str| {
            prefix
                .as_ref()
                .filter(|_| status == StepStatus::Ready)
                .map(|prefix| format!("{prefix}{file}"))
        };
        let step_error = |status: StepStatus, message: Option<String>| {
            (status == StepStatus::Error).then(|| ErrorView {
                // Only a failed asset has a step in error without a message of its own.
                message: message
                    .unwrap_or_else(|| "Not made: the file itself could not be processed.".into()),
            })
        };
        Self {
            id: a.id.as_string(),
            method: a.method,
            status: a.status,
            hls: a.hls_status.map(|status| HlsView {
                status,
                manifest_url: url_if_ready(
                    status,
                    &format!("hls/{}", assetd_media::MASTER_PLAYLIST),
                ),
                error: step_error(status, a.hls_error.clone()),
            }),
            thumbnail: a.thumbnail_status.map(|status| ThumbnailView {
                status,
                representative_url: url_if_ready(status, "thumb.jpg"),
                error: step_error(status, a.thumbnail_error.clone()),
            }),
            filename: a.filename,
            file_type: a.file_type,
            // The platform leaves size and duration out until the asset is processed.
            size: (a.status != AssetStatus::Processing).then_some(a.size_bytes),
            duration: a.duration_seconds,
            created_at: Timestamp::from_millis(a.created_at),
            technical_metadata: json(a.technical_metadata),
            error: (a.status == AssetStatus::Failed).then(|| ErrorView {
                message: a
                    .error_message
                    .unwrap_or_else(|| "The file could not be processed.".into()),
            }),
            user_metadata: json(a.user_metadata),
        }
    }
}
