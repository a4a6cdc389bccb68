//! `assemble`: makes the original of a multipart upload whose every chunk was
//! reported (queued by the report that closed the session), then probes it
//! like any upload. A retry after a crash assembles again: nothing is visible
//! before the original is published whole.

use assetd_queue::Outcome;

use super::probe::{probe_and_finish, record_failure, still_processing};
use super::{retry_on_error, AssetJob};
use crate::app::App;
use crate::assets::{multipart, Work};
use crate::config::ServeConfig;
use crate::domain::AssetId;

pub struct Assemble;

impl AssetJob for Assemble {
    const WORK: Work = Work::Assemble;

    fn concurrency(config: &ServeConfig) -> usize {
        config.assemble_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        retry_on_error(
            async {
                if still_processing(app, asset).await?.is_none() {
                    return Ok(Outcome::Done);
                }
                multipart::assemble(app, asset).await?;
                probe_and_finish(app, asset).await
            }
            .await,
        )
    }

    async fn failed(app: &App, asset: AssetId, error: &str) {
        record_failure(app, asset, error).await;
    }
}
