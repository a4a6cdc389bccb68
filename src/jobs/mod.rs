//! The concrete jobs, built on assetd-queue: what each kind does to an asset.
//! Jobs are enqueued in the same transaction as the asset row they are about
//! (the asset id is the job's resource), so a crash can never leave one without
//! the other; deleting the asset cancels them.

mod ingest;
mod media_steps;

use std::sync::Arc;
use std::time::Duration;

use assetd_queue::{spawn_workers, NewJob, Queue, WorkerOptions};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServeConfig;
use crate::db::Pool;
use crate::domain::{AssetId, Step};
use crate::fetch::UrlFetcher;
use crate::media::MediaRunner;
use crate::storage::Storage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Probe a stored file that was too large to probe within its upload.
    Probe,
    /// Download a URL's file that was too large (or of unknown size) to fetch within the request.
    Fetch,
    Thumbnail,
    Hls,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::Fetch => "fetch",
            Self::Thumbnail => "thumbnail",
            Self::Hls => "hls",
        }
    }

    pub fn for_step(step: Step) -> Self {
        match step {
            Step::Thumbnail => Self::Thumbnail,
            Step::Hls => Self::Hls,
        }
    }
}

/// Every job is about one asset.
#[derive(Debug, Serialize, Deserialize)]
struct AssetPayload {
    asset_id: String,
}

/// A job of `kind` for `asset`, to enqueue with the asset's row.
pub fn new_job(kind: JobKind, asset: AssetId, max_attempts: u32) -> NewJob {
    NewJob {
        kind: kind.as_str().to_string(),
        payload: serde_json::to_string(&AssetPayload {
            asset_id: asset.as_string(),
        })
        .expect("a payload always serialises"),
        resource: Some(asset.as_string()),
        max_attempts,
        delay: Duration::ZERO,
    }
}

fn payload_asset(job: &assetd_queue::Job) -> Option<AssetId> {
    let payload: AssetPayload = serde_json::from_str(&job.payload).ok()?;
    AssetId::parse(&payload.asset_id).ok()
}

/// What the jobs work with.
#[derive(Clone)]
pub struct JobContext {
    pub pool: Pool,
    pub storage: Storage,
    pub media: MediaRunner,
    pub queue: Queue,
    pub fetcher: UrlFetcher,
    pub max_upload_bytes: u64,
    pub job_max_attempts: u32,
}

/// Starts the workers of every kind whose concurrency is above 0 (0 leaves
/// that kind to other processes); they stop, handing running jobs back, when
/// `stop` is cancelled.
pub fn start_workers(
    context: JobContext,
    queue: &Queue,
    config: &ServeConfig,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let mut workers = Vec::new();
    let mut start =
        |kind: JobKind, concurrency: usize, spawn: &dyn Fn(WorkerOptions) -> JoinHandle<()>| {
            if concurrency > 0 {
                workers.push(spawn(WorkerOptions {
                    kind: kind.as_str().to_string(),
                    concurrency,
                    lease: config.job_lease(),
                    poll_interval: Duration::from_secs(2),
                    owner: owner.clone(),
                }));
            }
        };
    let (q, s) = (queue, stop);
    let probe = Arc::new(ingest::ProbeJob {
        context: context.clone(),
    });
    start(JobKind::Probe, config.probe_workers, &|o| {
        spawn_workers(q.clone(), o, probe.clone(), s.clone())
    });
    let fetch = Arc::new(ingest::FetchJob {
        context: context.clone(),
    });
    start(JobKind::Fetch, config.fetch_workers, &|o| {
        spawn_workers(q.clone(), o, fetch.clone(), s.clone())
    });
    let thumbnail = Arc::new(media_steps::MediaStep::new(
        context.clone(),
        Step::Thumbnail,
    ));
    start(JobKind::Thumbnail, config.thumbnail_workers, &|o| {
        spawn_workers(q.clone(), o, thumbnail.clone(), s.clone())
    });
    let hls = Arc::new(media_steps::MediaStep::new(context, Step::Hls));
    start(JobKind::Hls, config.hls_workers, &|o| {
        spawn_workers(q.clone(), o, hls.clone(), s.clone())
    });
    workers
}
