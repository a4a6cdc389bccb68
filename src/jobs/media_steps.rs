//! Thumbnail and HLS jobs. Each runs a media child that writes under a `.part-`
//! name inside the asset's folder; the result is renamed into place and only
//! then marked `ready`, so a reader never sees half a stream as ready.

use std::path::{Path, PathBuf};

use assetd_queue::{Handler, Job, Outcome};

use super::{payload_asset, JobContext};
use crate::db;
use crate::domain::{AssetId, Step, StepStatus};
use crate::media::FailureKind;
use crate::storage::remove_path;

pub struct MediaStep {
    context: JobContext,
    step: Step,
}

impl MediaStep {
    pub fn new(context: JobContext, step: Step) -> Self {
        Self { context, step }
    }

    fn final_name(&self) -> &'static str {
        match self.step {
            Step::Thumbnail => "thumb.jpg",
            Step::Hls => "hls",
        }
    }

    async fn work(&self, id: AssetId) -> anyhow::Result<Outcome> {
        let JobContext { pool, storage, .. } = &self.context;
        if !db::assets::set_step(pool, id, self.step, StepStatus::Processing, None).await? {
            return Ok(Outcome::Done); // the asset was deleted
        }
        // What an earlier, interrupted attempt of this step left.
        storage.remove_partials(id, self.final_name()).await?;
        let partial = storage.partial_path(id, self.final_name());
        let final_path = match self.step {
            Step::Thumbnail => storage.thumbnail_path(id),
            Step::Hls => storage.hls_dir(id),
        };
        let made = self.make(&storage.original_path(id), &partial).await;
        let outcome = match made {
            Ok(()) => {
                storage.publish(&partial, &final_path).await?;
                if !db::assets::set_step(pool, id, self.step, StepStatus::Ready, None).await? {
                    // Deleted while the work ran: leave nothing behind.
                    remove_path(&final_path).await?;
                }
                Outcome::Done
            }
            Err(outcome) => outcome,
        };
        remove_path(&partial).await?;
        Ok(outcome)
    }

    /// Runs the media child; a failure says whether to retry, with a message for the client.
    async fn make(&self, original: &Path, partial: &PathBuf) -> Result<(), Outcome> {
        let media = &self.context.media;
        let result = match self.step {
            Step::Thumbnail => media.thumbnail(original, partial).await.map(drop),
            Step::Hls => {
                tokio::fs::create_dir(partial).await.map_err(|e| {
                    Outcome::Retry(format!("The output folder could not be made: {e}."))
                })?;
                media.hls(original, partial).await.map(drop)
            }
        };
        result.map_err(|failure| match failure.classify() {
            (FailureKind::Transient, message) => Outcome::Retry(message),
            (_, message) => Outcome::Fail(message),
        })
    }
}

impl Handler for MediaStep {
    async fn run(&self, job: &Job) -> Outcome {
        let Some(id) = payload_asset(job) else {
            return Outcome::Fail("The job's payload names no asset.".into());
        };
        match self.work(id).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Retry(format!("{e:#}")),
        }
    }

    async fn failed(&self, job: &Job, error: &str) {
        if let Some(id) = payload_asset(job) {
            if let Err(e) = db::assets::set_step(
                &self.context.pool,
                id,
                self.step,
                StepStatus::Error,
                Some(error),
            )
            .await
            {
                tracing::error!(asset = %id, error = %e, "could not record a failed step");
            }
        }
    }
}
