//! `thumbnail`: makes a JPEG of at most 640 px (images, video frames, audio cover art or waveform) for a ready asset that asked for it.

use assetd_queue::Outcome;

use super::{media_step, AssetJob};
use crate::app::App;
use crate::assets::Work;
use crate::config::ServeConfig;
use crate::domain::{AssetId, Step};

pub struct Thumbnail;

impl AssetJob for Thumbnail {
    const WORK: Work = Work::Thumbnail;

    fn concurrency(config: &ServeConfig) -> usize {
        config.thumbnail_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        media_step::run(app, asset, Step::Thumbnail).await
    }

    async fn failed(app: &App, asset: AssetId, error: &str) {
        media_step::failed(app, asset, Step::Thumbnail, error).await;
    }
}
