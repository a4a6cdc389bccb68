//! Taking a new asset in: a finished upload (direct, or a URL fetched within
//! the request), or a URL whose file a job will download. And recording what
//! the probe (or a failed job) made of a `processing` asset. One function for
//! each, so that rules such as "no row without its file, no file without its
//! row" live in one place.

use super::events::{self, EventType};
use assetd_media::{MediaErrorKind, MediaKind, Probe, Sniffed};

use super::plan::{work_for, Work};
use super::technical::technical_metadata;
use crate::app::{App, AppState};
use crate::db::{self, assets::AssetRecord, assets::NewAsset};
use crate::domain::{
    AccountId, AssetId, AssetKind, AssetMethod, AssetStatus, Filename, Step, StepStatus,
    UserMetadata,
};
use crate::fetch::{Download, FetchError};
use crate::media_child::MediaFailure;
use crate::storage::{Upload, HEAD_LEN};

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
    /// The URL's file could not be fetched, or is over the size limit.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<std::io::Error> for IngestError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("file system"))
    }
}

const NOT_MEDIA: &str = "The file is not a video, audio or image file that this server can read.";

/// What the probe made of a file, to record on its row.
#[derive(Debug)]
pub enum Verdict {
    Ready {
        kind: AssetKind,
        file_type: String,
        duration: Option<f64>,
        technical: String,
    },
    /// The file's fault (or a job that gave up): the asset fails with this message.
    Failed(String),
}

impl Verdict {
    pub fn ready(probe: &Probe) -> Self {
        let kind = asset_kind(probe.kind);
        Self::Ready {
            kind,
            duration: probe.duration_seconds.filter(|_| kind != AssetKind::Image),
            technical: technical_metadata(probe).to_string(),
            file_type: probe.mime_type.clone(),
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
/// enough (else a probe job does it), moves it into place and inserts its row
/// with the jobs it needs. On any error the upload is dropped, which deletes it.
pub async fn ingest(
    app: &AppState,
    request: NewAssetRequest,
    upload: Upload,
) -> Result<AssetRecord, IngestError> {
    if upload.size() == 0 {
        return Err(IngestError::Empty);
    }
    let sniffed = assetd_media::sniff(upload.head())
        .ok_or_else(|| IngestError::Unsupported(NOT_MEDIA.into()))?;
    let verdict = if upload.size() > app.config.sync_max_bytes {
        None
    } else {
        match probe_now(app, upload.path()).await {
            Ok(probe) => Some(Verdict::ready(&probe)),
            Err(failure) => sync_probe_failed(failure)?,
        }
    };
    let id = upload.id();
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
    let app = app.clone();
    let finalize = tokio::spawn(async move {
        let stored = app.storage.store(upload).await?;
        let inserted = insert_with_jobs(&app, &request, &row).await?;
        stored.keep();
        Ok::<_, anyhow::Error>(inserted)
    });
    Ok(finalize.await.map_err(anyhow::Error::from)??)
}

/// Tries of the probe within the request before a fault of ours is left to
/// the probe job. A file up to the sync threshold is promised `ready` (or
/// `failed`) in the create answer; a passing fault on a loaded machine (a
/// media child that could not start or died) should cost a short wait, not
/// that promise.
const SYNC_PROBE_TRIES: u32 = 3;

async fn probe_now(app: &App, path: &std::path::Path) -> Result<Probe, MediaFailure> {
    let mut tried = 1;
    loop {
        match app.media.probe(path).await {
            Err(failure)
                if failure.kind() == MediaErrorKind::System && tried < SYNC_PROBE_TRIES =>
            {
                tracing::warn!(error = %failure.message(), tried, "the probe failed; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(250 * u64::from(tried))).await;
                tried += 1;
            }
            result => return result,
        }
    }
}

/// A failed probe within the upload: refused when the file is not media, a
/// failed asset when the file is broken. A fault of ours leaves the asset
/// `processing` for the probe job to try again.
fn sync_probe_failed(failure: MediaFailure) -> Result<Option<Verdict>, IngestError> {
    match failure.kind() {
        MediaErrorKind::Unsupported => Err(IngestError::Unsupported(failure.message())),
        MediaErrorKind::InvalidInput => Ok(Some(Verdict::Failed(failure.message()))),
        MediaErrorKind::System => {
            tracing::warn!(error = %failure.message(), "the probe failed; a job will try again");
            Ok(None)
        }
    }
}

/// Takes in a URL's file. It is fetched within the request when the origin
/// declares a size within the sync threshold, and then taken in like an
/// upload; otherwise only its first bytes are read here (to refuse what is
/// not media at once) and a fetch job downloads it.
pub async fn ingest_url(
    app: &AppState,
    request: NewAssetRequest,
    mut download: Download,
) -> Result<AssetRecord, IngestError> {
    match download.content_length() {
        Some(length) if length <= app.config.sync_max_bytes => {
            let upload = download.save(app.storage.begin_upload().await?).await?;
            ingest(app, request, upload).await
        }
        declared => {
            if let Some(length) = declared {
                app.storage
                    .check_declared_size(length)
                    .map_err(FetchError::from)?;
            }
            let head = download.head(HEAD_LEN).await?;
            ingest_remote(app, request, &head).await
        }
    }
}

/// Takes in a URL whose file is too large (or of unknown size) to fetch within
/// the request, from its first bytes: the row says `processing` and a fetch job
/// downloads the file.
async fn ingest_remote(
    app: &App,
    request: NewAssetRequest,
    head: &[u8],
) -> Result<AssetRecord, IngestError> {
    if head.is_empty() {
        return Err(IngestError::Empty);
    }
    let sniffed =
        assetd_media::sniff(head).ok_or_else(|| IngestError::Unsupported(NOT_MEDIA.into()))?;
    let mut row = Row::new(&request, AssetId::new(), sniffed, None, 0, String::new());
    row.first = Work::Fetch;
    Ok(insert_with_jobs(app, &request, &row).await?)
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
    /// The work that takes a `processing` asset further.
    first: Work,
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
            first: Work::Probe,
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
            Some(Verdict::Failed(message)) => {
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
}

/// Inserts the row and its jobs in one transaction: both exist, or neither.
/// Returns the row as committed, read before the workers are woken, so that
/// the answer shows the state the asset was created in.
/// An asset made `ready` or `failed` at once records its event with it.
async fn insert_with_jobs(
    app: &App,
    request: &NewAssetRequest,
    row: &Row,
) -> anyhow::Result<AssetRecord> {
    let (pool, queue, max_attempts) = (&app.pool, &app.queue, app.config.job_max_attempts);
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
    let mut tx = db::begin_write(pool).await?;
    db::assets::insert(&mut tx, &new).await?;
    for work in work_for(row.status, row.first, &row.steps) {
        queue
            .enqueue(&mut tx, &work.job(row.id, max_attempts))
            .await?;
    }
    if let Some(event) = EventType::of_status(row.status) {
        events::record_asset(&app.outbox(), &mut tx, event, row.id).await?;
    }
    let inserted = db::assets::find(&mut *tx, request.account, row.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("asset {} vanished right after its insert", row.id))?;
    tx.commit().await?;
    queue.wake();
    Ok(inserted)
}

/// Records the verdict on a `processing` asset and, when it is ready, enqueues
/// the steps it was asked for, in one transaction. False when the asset is gone
/// or no longer processing (deleted, or finished by an earlier attempt).
pub async fn finish_processing(app: &App, id: AssetId, verdict: &Verdict) -> anyhow::Result<bool> {
    let mut tx = app.pool.begin().await?;
    let requested = match verdict {
        Verdict::Ready {
            kind,
            file_type,
            duration,
            technical,
        } => db::assets::mark_ready(&mut tx, id, *kind, file_type, *duration, technical).await?,
        Verdict::Failed(message) => db::assets::mark_failed(&mut tx, id, message)
            .await?
            .map(|_| Vec::new()),
    };
    let Some(steps) = requested else {
        return Ok(false);
    };
    let event = match verdict {
        Verdict::Ready { .. } => EventType::AssetReady,
        Verdict::Failed(_) => EventType::AssetFailed,
    };
    events::record_asset(&app.outbox(), &mut tx, event, id).await?;
    for step in steps {
        app.queue
            .enqueue(
                &mut tx,
                &Work::for_step(step).job(id, app.config.job_max_attempts),
            )
            .await?;
    }
    tx.commit().await?;
    app.queue.wake();
    Ok(true)
}

fn asset_kind(kind: MediaKind) -> AssetKind {
    match kind {
        MediaKind::Video => AssetKind::Video,
        MediaKind::Audio => AssetKind::Audio,
        MediaKind::Image => AssetKind::Image,
    }
}
