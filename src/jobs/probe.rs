//! `probe`: probes the stored original of a file that was too large to probe
//! within its upload, and records the verdict.

use assetd_media::MediaErrorKind;
use assetd_queue::Outcome;

use super::{retry_on_error, AssetJob};
use crate::app::App;
use crate::assets::{finish_processing, Verdict, Work};
use crate::config::ServeConfig;
use crate::db::{self, assets::AssetRecord};
use crate::domain::{AssetId, AssetStatus};

pub struct Probe;

impl AssetJob for Probe {
    const WORK: Work = Work::Probe;

    fn concurrency(config: &ServeConfig) -> usize {
        config.probe_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        retry_on_error(
            async {
                if still_processing(app, asset).await?.is_none() {
                    return Ok(Outcome::Done);
                }
                probe_and_finish(app, asset).await
            }
            .await,
        )
    }

    async fn failed(app: &App, asset: AssetId, error: &str) {
        record_failure(app, asset, error).await;
    }
}

/// The asset when it still waits for its probe or download; None when it was
/// deleted or finished by an earlier attempt.
pub(super) async fn still_processing(
    app: &App,
    asset: AssetId,
) -> anyhow::Result<Option<AssetRecord>> {
    let found = db::assets::find_any(&app.pool, asset).await?;
    Ok(found.filter(|a| a.status == AssetStatus::Processing))
}

/// Probes the stored original and records the verdict; a fault of ours is retried.
pub(super) async fn probe_and_finish(app: &App, asset: AssetId) -> anyhow::Result<Outcome> {
    let original = app.storage.local_original(asset).await?;
    let verdict = match app.media.probe(&original).await {
        Ok(probe) => Verdict::ready(&probe),
        Err(failure) if failure.kind() == MediaErrorKind::System => return Ok(failure.into()),
        Err(failure) => Verdict::Failed(failure.message()),
    };
    finish_processing(app, asset, &verdict).await?;
    Ok(Outcome::Done)
}

/// The job gave up: the asset fails with its error.
pub(super) async fn record_failure(app: &App, asset: AssetId, error: &str) {
    let verdict = Verdict::Failed(error.to_string());
    if let Err(e) = finish_processing(app, asset, &verdict).await {
        tracing::error!(%asset, error = format!("{e:#}"), "could not record a failed asset");
    }
}
