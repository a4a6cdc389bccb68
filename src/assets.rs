//! Asset operations shared by the API and, later, the background jobs: taking a
//! finished upload in, and deleting. One function for each, so that rules such
//! as "no row without its file, no file without its row" live in one place.

use assetd_media::{MediaErrorKind, MediaKind, Probe};
use serde_json::{Map, Value};

use crate::db::{self, assets::AssetRecord, assets::NewAsset, Pool};
use crate::domain::{
    AccountId, AssetId, AssetKind, AssetMethod, AssetStatus, Filename, StepStatus, UserMetadata,
};
use crate::media::{MediaRunner, ProbeError};
use crate::storage::{Storage, Upload};

/// What the client asked for, validated.
#[derive(Debug)]
pub struct NewAssetRequest {
    pub account: AccountId,
    pub method: AssetMethod,
    pub filename: Filename,
    pub source_url: Option<String>,
    pub user_metadata: Option<UserMetadata>,
    pub enable_hls: bool,
    pub enable_thumbnail: bool,
}

/// Why an upload was turned away; nothing is kept in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("The file is empty.")]
    Empty,
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct Services<'a> {
    pub pool: &'a Pool,
    pub storage: &'a Storage,
    pub media: &'a MediaRunner,
    pub sync_max_bytes: u64,
}

const NOT_MEDIA: &str = "The file is not a video, audio or image file that this server can read.";

/// Takes a complete upload in: checks its content, probes it when it is small
/// enough, moves it into place and inserts its row. On any error the upload is
/// dropped, which deletes it.
pub async fn ingest(
    services: Services<'_>,
    request: NewAssetRequest,
    upload: Upload,
) -> Result<AssetRecord, IngestError> {
    if upload.size() == 0 {
        return Err(IngestError::Empty);
    }
    let sniffed = assetd_media::sniff(upload.head())
        .ok_or_else(|| IngestError::Unsupported(NOT_MEDIA.into()))?;

    let mut kind = asset_kind(sniffed.kind);
    let mut file_type = sniffed.mime_type;
    let mut duration = None;
    let mut technical = None;
    let mut error_message = None;
    let status = if upload.size() > services.sync_max_bytes {
        AssetStatus::Processing
    } else {
        match services.media.probe(upload.path()).await {
            Ok(probe) => {
                kind = asset_kind(probe.kind);
                file_type.clone_from(&probe.mime_type);
                duration = probe.duration_seconds.filter(|_| kind != AssetKind::Image);
                technical = Some(technical_metadata(&probe).to_string());
                AssetStatus::Ready
            }
            Err(ProbeError::Media(e)) if e.kind == MediaErrorKind::Unsupported => {
                return Err(IngestError::Unsupported(e.message));
            }
            Err(ProbeError::Media(e)) => {
                error_message = Some(e.message);
                AssetStatus::Failed
            }
            Err(ProbeError::Child(e)) => {
                tracing::warn!(error = %e, "probe failed");
                error_message = Some(format!("The file could not be processed: {e}."));
                AssetStatus::Failed
            }
        }
    };

    let step = |requested: bool| {
        requested.then_some(if status == AssetStatus::Failed {
            StepStatus::Error
        } else {
            StepStatus::Pending
        })
    };
    let hls_status = step(request.enable_hls && kind != AssetKind::Image);
    let thumbnail_status = step(request.enable_thumbnail);

    // Moving the file into place and inserting its row run in their own task, so
    // that they finish together even if the client goes away now; the folder
    // guard removes the folder only when the insert failed.
    let pool = services.pool.clone();
    let storage = services.storage.clone();
    let finalize = tokio::spawn(async move {
        let id = AssetId::new();
        let sha256 = upload.sha256().to_string();
        let new = NewAsset {
            id,
            account: request.account,
            method: request.method,
            status,
            kind,
            filename: &request.filename,
            file_type: &file_type,
            size_bytes: upload.size(),
            sha256: &sha256,
            duration_seconds: duration,
            technical_metadata: technical,
            error_message: error_message.as_deref(),
            user_metadata: request.user_metadata.as_ref().map(UserMetadata::to_json),
            source_url: request.source_url.as_deref(),
            hls_status,
            thumbnail_status,
            created_at: db::now_millis(),
        };
        let stored = storage.store(upload, id).await?;
        db::assets::insert(&pool, &new).await?;
        stored.keep();
        db::assets::find(&pool, request.account, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("asset {id} vanished right after its insert"))
    });
    Ok(finalize.await.map_err(anyhow::Error::from)??)
}

/// Deletes an asset: its row in a transaction, then its files. False when the
/// account has no such asset. `force` is for the index references of a later issue.
pub async fn delete(
    pool: &Pool,
    storage: &Storage,
    account: AccountId,
    id: AssetId,
    _force: bool,
) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    if !db::assets::delete(&mut tx, account, id).await? {
        return Ok(false);
    }
    tx.commit().await?;
    // After the commit: a crash here leaves an orphan folder, which the start-up
    // sweep removes; the reverse order could leave a row without its file.
    if let Err(e) = storage.remove_asset(id).await {
        tracing::warn!(asset = %id, error = %e, "could not remove the files of a deleted asset");
    }
    Ok(true)
}

fn asset_kind(kind: MediaKind) -> AssetKind {
    match kind {
        MediaKind::Video => AssetKind::Video,
        MediaKind::Audio => AssetKind::Audio,
        MediaKind::Image => AssetKind::Image,
    }
}

/// The probe in the platform's `technical_metadata` field names; absent values are left out.
pub fn technical_metadata(probe: &Probe) -> Value {
    let mut m = Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            m.insert(key.to_string(), value);
        }
    };
    put("file_size_bytes", probe.size_bytes.into());
    put("file_mime_type", probe.mime_type.clone().into());
    put(
        "file_container_format",
        probe.container_format.clone().into(),
    );

    if let Some(image) = &probe.image {
        put("image_width", image.width.into());
        put("image_height", image.height.into());
        put("image_format", image.format.clone().into());
        put("image_orientation", image.orientation.into());
        put("has_alpha", image.has_alpha.into());
        put("is_animated", image.is_animated.into());
        put(
            "storage_aspect_ratio",
            aspect_ratio(image.width, image.height),
        );
        return Value::Object(m);
    }

    if let Some(v) = probe.video_streams.first() {
        put("video_codec", v.codec.clone().into());
        put("video_width", v.width.into());
        put("video_height", v.height.into());
        put("video_fps", v.fps.or(v.avg_fps).into());
        put("video_duration_seconds", v.duration_seconds.into());
        put("video_bitrate_bps", v.bitrate_bps.into());
        put("storage_aspect_ratio", aspect_ratio(v.width, v.height));
    }
    if let Some(a) = probe.audio_streams.first() {
        put("audio_codec", a.codec.clone().into());
        put("audio_sample_rate", a.sample_rate.into());
        put("audio_channels", a.channels.into());
        put("audio_duration_seconds", a.duration_seconds.into());
    }
    put("has_audio", (!probe.audio_streams.is_empty()).into());
    put(
        "is_hdr",
        probe.video_streams.iter().any(|v| v.is_hdr).into(),
    );
    put("total_video_streams", probe.video_streams.len().into());
    put("total_audio_streams", probe.audio_streams.len().into());
    put(
        "video_streams",
        probe
            .video_streams
            .iter()
            .map(|v| {
                compact(serde_json::json!({
                    "index": v.index, "codec": v.codec, "width": v.width, "height": v.height,
                    "fps": v.fps, "avg_fps": v.avg_fps, "duration_seconds": v.duration_seconds,
                    "bitrate_bps": v.bitrate_bps, "rotation": v.rotation, "pixel_format": v.pixel_format,
                    "bit_depth": v.bit_depth, "color_space": v.color_space,
                    "color_transfer": v.color_transfer, "color_primaries": v.color_primaries,
                }))
            })
            .collect(),
    );
    put(
        "audio_streams",
        probe
            .audio_streams
            .iter()
            .map(|a| {
                compact(serde_json::json!({
                    "index": a.index, "codec": a.codec, "sample_rate": a.sample_rate,
                    "channels": a.channels, "channel_layout": a.channel_layout,
                    "bitrate_bps": a.bitrate_bps, "language": a.language,
                    "duration_seconds": a.duration_seconds,
                }))
            })
            .collect(),
    );
    Value::Object(m)
}

/// Drops the nulls of a JSON object: the wire leaves absent values out.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// Width over height, as the platform reports it (a number, e.g. 1.7778 for 16:9).
fn aspect_ratio(width: u32, height: u32) -> Value {
    if width == 0 || height == 0 {
        return Value::Null;
    }
    let ratio = f64::from(width) / f64::from(height);
    ((ratio * 10_000.0).round() / 10_000.0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_are_numbers() {
        assert_eq!(aspect_ratio(1920, 1080), 1.7778);
        assert_eq!(aspect_ratio(320, 240), 1.3333);
        assert_eq!(aspect_ratio(0, 0), Value::Null);
    }
}
