//! `hls`: makes a VOD HLS stream (remuxed when the source allows, else transcoded to H.264/AAC) for a ready asset that asked for it.

use assetd_queue::Outcome;

use super::{media_step, AssetJob};
use crate::app::App;
use crate::assets::Work;
use crate::config::ServeConfig;
use crate::domain::{AssetId, Step};

pub struct Hls;

impl AssetJob for Hls {
    const WORK: Work = Work::Hls;

    fn concurrency(config: &ServeConfig) -> usize {
        config.hls_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        media_step::run(app, asset, Step::Hls).await
    }

    async fn failed(app: &App, asset: AssetId, error: &str) {
        media_step::failed(app, asset, Step::Hls, error).await;
    }
}
