//! `expire_upload`: queued, delayed to its expiry, with each multipart upload
//! session. A session still active then is ended: its asset fails with a
//! message saying why, and its chunks (or S3 multipart upload) go. A session
//! that completed meanwhile makes it a no-op.

use assetd_queue::Outcome;

use super::probe::record_failure;
use super::{retry_on_error, AssetJob};
use crate::app::App;
use crate::assets::{multipart, Work};
use crate::config::ServeConfig;
use crate::domain::AssetId;

pub struct ExpireUpload;

const EXPIRED: &str =
    "The multipart upload expired before all of its chunks were reported; upload the file again.";

impl AssetJob for ExpireUpload {
    const WORK: Work = Work::ExpireUpload;

    fn concurrency(config: &ServeConfig) -> usize {
        config.purge_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        retry_on_error(
            async {
                if multipart::expire(app, asset).await? {
                    record_failure(app, asset, EXPIRED).await;
                }
                Ok(Outcome::Done)
            }
            .await,
        )
    }

    async fn failed(_app: &App, asset: AssetId, error: &str) {
        tracing::error!(%asset, %error, "could not end an expired multipart upload");
    }
}
