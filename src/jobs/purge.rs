//! `purge`: removes the files of a deleted asset. It is enqueued in the
//! transaction that deletes the row, so the files go even if the node that
//! deleted it dies right after the commit; removing what is already gone
//! counts as done, so running it twice is harmless.

use assetd_queue::Outcome;

use super::{retry_on_error, AssetJob};
use crate::app::App;
use crate::assets::{multipart, Work};
use crate::config::ServeConfig;
use crate::domain::AssetId;

pub struct Purge;

impl AssetJob for Purge {
    const WORK: Work = Work::Purge;

    fn concurrency(config: &ServeConfig) -> usize {
        config.purge_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        retry_on_error(
            async {
                multipart::end_for_deleted(app, asset).await?;
                app.storage.remove_asset(asset).await?;
                Ok(Outcome::Done)
            }
            .await,
        )
    }

    async fn failed(_app: &App, asset: AssetId, error: &str) {
        // There is no row to show it on: the operator's `assetd jobs list`
        // shows it, and the start-up sweep takes the folder in the end.
        tracing::error!(%asset, %error, "could not remove the files of a deleted asset");
    }
}
