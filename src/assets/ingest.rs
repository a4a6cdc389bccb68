//! Asset operations shared by the API and, later, the background jobs: taking a
//! finished upload in, and deleting. One function for each, so that rules such
//! as "no row without its file, no file without its row" live in one place.

use assetd_media::{MediaKind, Probe, Sniffed};
use serde_json::{Map, Value};

use assetd_queue::Queue;

use crate::db::{self, assets::AssetRecord, assets::NewAsset, Pool};
use crate::domain::{
    AccountId, AssetId, AssetKind, AssetMethod, AssetStatus, Filename, Step, StepStatus,
    UserMetadata,
};
use crate::jobs::{self, JobKind};
use crate::media::{FailureKind, MediaFailure, MediaRunner};
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
    pub queue: &'a Queue,
    pub sync_max_bytes: u64,
    pub job_max_attempts: u32,
}

const NOT_MEDIA: &str = "The file is not a video, audio or image file that this server can read.";

/// What a probe made of a file.
pub enum Verdict {
    Ready {
        kind: AssetKind,
        file_type: String,
        duration: Option<f64>,
        technical: String,
    },
    /// The file's fault: the asset fails with this message.
    Failed(String),
    /// Not media after all.
    Unsupported(String),
    /// Our side failed (a crash, an I/O error): worth another attempt.
    Retry(String),
}

impl Verdict {
    pub fn of(result: Result<Probe, MediaFailure>) -> Self {
        match result {
            Ok(probe) => {
                let kind = asset_kind(probe.kind);
                Self::Ready {
                    kind,
                    duration: probe.duration_seconds.filter(|_| kind != AssetKind::Image),
                    technical: technical_metadata(&probe).to_string(),
                    file_type: probe.mime_type,
                }
            }
            Err(failure) => match failure.classify() {
                (FailureKind::NotMedia, message) => Self::Unsupported(message),
                (FailureKind::Permanent, message) => Self::Failed(message),
                (FailureKind::Transient, message) => Self::Retry(message),
            },
        }
    }
}

/// The steps the client asked for that apply to this kind of asset.
fn requested_steps(request: &NewAssetRequest, kind: AssetKind) -> Vec<Step> {
    let mut steps = Vec::new();
    if request.enable_thumbnail {
        steps.push(Step::Thumbnail);
    }
    if request.enable_hls && kind != AssetKind::Image {
        steps.push(Step::Hls);
    }
    steps
}

/// Takes a complete upload in: checks its content, probes it when it is small
/// enough (else, or when the probe hit a passing fault, a probe job does it),
/// moves it into place and inserts its row with the jobs it needs. On any error
/// the upload is dropped, which deletes it.
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
    let verdict = if upload.size() > services.sync_max_bytes {
        None
    } else {
        match Verdict::of(services.media.probe(upload.path()).await) {
            Verdict::Unsupported(message) => return Err(IngestError::Unsupported(message)),
            Verdict::Retry(message) => {
                tracing::warn!(error = %message, "the probe failed; a job will try again");
                None
            }
            verdict => Some(verdict),
        }
    };
    let id = AssetId::new();
    let row = Row::new(
        &request,
        id,
        sniffed,
        verdict,
        upload.size(),
        upload.sha256().to_string(),
    );

    // Moving the file into place and inserting its row run in their own task, so
    // that they finish together even if the client goes away now; the folder
    // guard removes the folder only when the insert failed.
    let pool = services.pool.clone();
    let storage = services.storage.clone();
    let queue = services.queue.clone();
    let max_attempts = services.job_max_attempts;
    let finalize = tokio::spawn(async move {
        let stored = storage.store(upload, id).await?;
        let jobs = row.jobs();
        insert_with_jobs(&pool, &queue, &request, &row, &jobs, max_attempts).await?;
        stored.keep();
        find_inserted(&pool, request.account, id).await
    });
    Ok(finalize.await.map_err(anyhow::Error::from)??)
}

/// Takes in a URL whose file is too large (or of unknown size) to fetch within
/// the request, from its first bytes: the row says `processing` and a fetch job
/// downloads the file.
pub async fn ingest_remote(
    services: Services<'_>,
    request: NewAssetRequest,
    head: &[u8],
) -> Result<AssetRecord, IngestError> {
    if head.is_empty() {
        return Err(IngestError::Empty);
    }
    let sniffed =
        assetd_media::sniff(head).ok_or_else(|| IngestError::Unsupported(NOT_MEDIA.into()))?;
    let id = AssetId::new();
    let mut row = Row::new(&request, id, sniffed, None, 0, String::new());
    row.first_job = JobKind::Fetch;
    insert_with_jobs(
        services.pool,
        services.queue,
        &request,
        &row,
        &row.jobs(),
        services.job_max_attempts,
    )
    .await?;
    Ok(find_inserted(services.pool, request.account, id).await?)
}

async fn find_inserted(
    pool: &Pool,
    account: AccountId,
    id: AssetId,
) -> anyhow::Result<AssetRecord> {
    db::assets::find(pool, account, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("asset {id} vanished right after its insert"))
}

/// A new row's values, decided before anything is written.
struct Row {
    id: AssetId,
    status: AssetStatus,
    kind: AssetKind,
    file_type: String,
    duration: Option<f64>,
    technical: Option<String>,
    error_message: Option<String>,
    size: u64,
    sha256: String,
    steps: Vec<Step>,
    /// The job that takes a `processing` asset further.
    first_job: JobKind,
}

impl Row {
    fn new(
        request: &NewAssetRequest,
        id: AssetId,
        sniffed: Sniffed,
        verdict: Option<Verdict>,
        size: u64,
        sha256: String,
    ) -> Self {
        let mut row = Self {
            id,
            status: AssetStatus::Processing,
            kind: asset_kind(sniffed.kind),
            file_type: sniffed.mime_type,
            duration: None,
            technical: None,
            error_message: None,
            size,
            sha256,
            steps: Vec::new(),
            first_job: JobKind::Probe,
        };
        match verdict {
            Some(Verdict::Ready {
                kind,
                file_type,
                duration,
                technical,
            }) => {
                row.status = AssetStatus::Ready;
                row.kind = kind;
                row.file_type = file_type;
                row.duration = duration;
                row.technical = Some(technical);
            }
            Some(
                Verdict::Failed(message) | Verdict::Unsupported(message) | Verdict::Retry(message),
            ) => {
                row.status = AssetStatus::Failed;
                row.error_message = Some(message);
            }
            None => {}
        }
        row.steps = requested_steps(request, row.kind);
        row
    }

    /// A step's first status: pending, or error when the asset failed.
    fn step_status(&self, step: Step) -> Option<StepStatus> {
        self.steps
            .contains(&step)
            .then_some(if self.status == AssetStatus::Failed {
                StepStatus::Error
            } else {
                StepStatus::Pending
            })
    }

    /// The jobs to enqueue with the row.
    fn jobs(&self) -> Vec<JobKind> {
        match self.status {
            AssetStatus::Processing => vec![self.first_job],
            AssetStatus::Ready => self.steps.iter().map(|s| JobKind::for_step(*s)).collect(),
            AssetStatus::Failed => Vec::new(),
        }
    }
}

/// Inserts the row and its jobs in one transaction: both exist, or neither.
async fn insert_with_jobs(
    pool: &Pool,
    queue: &Queue,
    request: &NewAssetRequest,
    row: &Row,
    jobs: &[JobKind],
    max_attempts: u32,
) -> anyhow::Result<()> {
    let new = NewAsset {
        id: row.id,
        account: request.account,
        method: request.method,
        status: row.status,
        kind: row.kind,
        filename: &request.filename,
        file_type: &row.file_type,
        size_bytes: row.size,
        sha256: &row.sha256,
        duration_seconds: row.duration,
        technical_metadata: row.technical.clone(),
        error_message: row.error_message.as_deref(),
        user_metadata: request.user_metadata.as_ref().map(UserMetadata::to_json),
        source_url: request.source_url.as_deref(),
        hls_status: row.step_status(Step::Hls),
        thumbnail_status: row.step_status(Step::Thumbnail),
        created_at: db::now_millis(),
    };
    let mut tx = pool.begin().await?;
    db::assets::insert(&mut tx, &new).await?;
    for kind in jobs {
        queue
            .enqueue(&mut tx, &jobs::new_job(*kind, row.id, max_attempts))
            .await?;
    }
    tx.commit().await?;
    queue.wake();
    Ok(())
}

/// Records the probe of a `processing` asset and, when it is ready, enqueues
/// the steps it was asked for, in one transaction. False when the asset is gone
/// or no longer processing (deleted, or finished by an earlier attempt).
pub async fn finish_processing(
    pool: &Pool,
    queue: &Queue,
    id: AssetId,
    verdict: &Verdict,
    max_attempts: u32,
) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let requested = match verdict {
        Verdict::Ready {
            kind,
            file_type,
            duration,
            technical,
        } => db::assets::mark_ready(&mut tx, id, *kind, file_type, *duration, technical).await?,
        Verdict::Failed(message) | Verdict::Unsupported(message) | Verdict::Retry(message) => {
            db::assets::mark_failed(&mut tx, id, message)
                .await?
                .map(|_| Vec::new())
        }
    };
    let Some(steps) = requested else {
        return Ok(false);
    };
    for step in steps {
        queue
            .enqueue(
                &mut tx,
                &jobs::new_job(JobKind::for_step(step), id, max_attempts),
            )
            .await?;
    }
    tx.commit().await?;
    queue.wake();
    Ok(true)
}

/// What a delete came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    NotFound,
    /// Indexed assets reference it, and the delete was not forced.
    InUse {
        references: u64,
    },
}

/// The one way an asset is deleted. In one transaction: with `force`, the
/// references to it go first; then its row, in a statement that also checks
/// that nothing references it (so a reference made concurrently either comes
/// first and blocks the delete, or finds the asset gone); then its jobs are
/// cancelled. After the commit its files go.
pub async fn delete(
    pool: &Pool,
    storage: &Storage,
    queue: &Queue,
    account: AccountId,
    id: AssetId,
    force: bool,
) -> anyhow::Result<Deleted> {
    let mut tx = pool.begin().await?;
    if force {
        db::indexes::delete_references(&mut tx, account, id).await?;
    }
    if !db::assets::delete(&mut tx, account, id).await? {
        tx.rollback().await?;
        if db::assets::find(pool, account, id).await?.is_none() {
            return Ok(Deleted::NotFound);
        }
        let references = db::indexes::count_references(pool, id).await?;
        return Ok(Deleted::InUse { references });
    }
    queue.cancel_resource(&mut tx, &id.as_string()).await?;
    tx.commit().await?;
    // After the commit: a crash here leaves an orphan folder, which the start-up
    // sweep removes; the reverse order could leave a row without its file.
    if let Err(e) = storage.remove_asset(id).await {
        tracing::warn!(asset = %id, error = %e, "could not remove the files of a deleted asset");
    }
    Ok(Deleted::Yes)
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
