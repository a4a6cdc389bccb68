//! The jobs that take a `processing` asset to `ready` or `failed`: a probe of a
//! file too large to probe within the request, and the download of a URL too
//! large (or of unknown size) to fetch within it.

use std::path::Path;

use assetd_queue::{Handler, Job, Outcome};
use sha2::{Digest, Sha256};

use super::{payload_asset, JobContext};
use crate::assets::{finish_processing, Verdict};
use crate::db;
use crate::domain::{AssetId, AssetStatus};
use crate::fetch::FetchError;

/// Probes the stored original and records the verdict.
pub struct ProbeJob {
    pub context: JobContext,
}

/// Downloads the asset's source URL into its folder (resuming where an earlier
/// attempt stopped, when the origin supports ranges), then probes it.
pub struct FetchJob {
    pub context: JobContext,
}

impl JobContext {
    async fn probe_and_finish(&self, id: AssetId) -> anyhow::Result<Outcome> {
        let verdict = Verdict::of(self.media.probe(&self.storage.original_path(id)).await);
        if let Verdict::Retry(message) = verdict {
            return Ok(Outcome::Retry(message));
        }
        finish_processing(&self.pool, &self.queue, id, &verdict, self.job_max_attempts).await?;
        Ok(Outcome::Done)
    }

    /// The asset when it still waits for this job; None when it was deleted or finished.
    async fn processing(&self, id: AssetId) -> anyhow::Result<Option<db::assets::AssetRecord>> {
        let asset = db::assets::find_any(&self.pool, id).await?;
        Ok(asset.filter(|a| a.status == AssetStatus::Processing))
    }

    async fn record_failure(&self, job: &Job, error: &str) {
        let Some(id) = payload_asset(job) else { return };
        let verdict = Verdict::Failed(error.to_string());
        if let Err(e) =
            finish_processing(&self.pool, &self.queue, id, &verdict, self.job_max_attempts).await
        {
            tracing::error!(asset = %id, error = format!("{e:#}"), "could not record a failed asset");
        }
    }
}

impl Handler for ProbeJob {
    async fn run(&self, job: &Job) -> Outcome {
        let Some(id) = payload_asset(job) else {
            return Outcome::Fail("The job's payload names no asset.".into());
        };
        let result = async {
            if self.context.processing(id).await?.is_none() {
                return Ok(Outcome::Done);
            }
            self.context.probe_and_finish(id).await
        };
        result
            .await
            .unwrap_or_else(|e: anyhow::Error| Outcome::Retry(format!("{e:#}")))
    }

    async fn failed(&self, job: &Job, error: &str) {
        self.context.record_failure(job, error).await;
    }
}

impl Handler for FetchJob {
    async fn run(&self, job: &Job) -> Outcome {
        let Some(id) = payload_asset(job) else {
            return Outcome::Fail("The job's payload names no asset.".into());
        };
        let result = async {
            let Some(asset) = self.context.processing(id).await? else {
                return Ok(Outcome::Done);
            };
            let Some(source) = asset.source_url.as_deref() else {
                return Ok(Outcome::Fail("The asset has no URL to download.".into()));
            };
            match self.download(id, source).await? {
                Ok(()) => self.context.probe_and_finish(id).await,
                Err(outcome) => Ok(outcome),
            }
        };
        result
            .await
            .unwrap_or_else(|e: anyhow::Error| Outcome::Retry(format!("{e:#}")))
    }

    async fn failed(&self, job: &Job, error: &str) {
        self.context.record_failure(job, error).await;
    }
}

impl FetchJob {
    /// Downloads into `original.download` and renames it to `original` when complete.
    async fn download(&self, id: AssetId, source: &str) -> anyhow::Result<Result<(), Outcome>> {
        let JobContext {
            storage, fetcher, ..
        } = &self.context;
        let url = match fetcher.parse(source) {
            Ok(url) => url,
            Err(e) => return Ok(Err(Outcome::Fail(download_message(&e)))),
        };
        tokio::fs::create_dir_all(storage.asset_dir(id)).await?;
        let partial = storage.asset_dir(id).join("original.download");
        let size = match fetcher
            .download_to(url, &partial, self.context.max_upload_bytes)
            .await
        {
            Ok(size) => size,
            Err(e @ (FetchError::Remote(_) | FetchError::Io(_))) => {
                return Ok(Err(Outcome::Retry(download_message(&e))))
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Ok(Err(Outcome::Fail(download_message(&e))));
            }
        };
        if size == 0 {
            let _ = tokio::fs::remove_file(&partial).await;
            return Ok(Err(Outcome::Fail("The URL's file is empty.".into())));
        }
        let sha256 = sha256_of(&partial).await?;
        tokio::fs::rename(&partial, storage.original_path(id)).await?;
        db::assets::set_file(&self.context.pool, id, size, &sha256).await?;
        Ok(Ok(()))
    }
}

fn download_message(e: &FetchError) -> String {
    match e {
        FetchError::TooLarge { .. } | FetchError::NotAllowed(_) => e.to_string(),
        other => format!("The file could not be downloaded: {other}."),
    }
}

/// Hashes a file on a blocking thread (a resumed download was not hashed as it came).
async fn sha256_of(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}
