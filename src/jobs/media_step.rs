//! What the thumbnail and HLS jobs share: a media child writes the output
//! under a partial name, storage publishes it, and only then is the step
//! marked `ready`, so a reader never sees half a stream as ready.

use assetd_queue::Outcome;

use super::retry_on_error;
use crate::app::App;
use crate::assets::events;
use crate::domain::{AssetId, Step, StepStatus};
use crate::storage::AssetFile;

pub(super) async fn run(app: &App, asset: AssetId, step: Step) -> Outcome {
    retry_on_error(make_and_publish(app, asset, step).await)
}

async fn make_and_publish(app: &App, asset: AssetId, step: Step) -> anyhow::Result<Outcome> {
    if !events::set_step(app, asset, step, StepStatus::Processing, None).await? {
        return Ok(Outcome::Done); // the asset was deleted
    }
    let output = AssetFile::of_step(step);
    let original = app.storage.local_original(asset).await?;
    let partial = app.storage.begin_output(asset, output.clone()).await?;
    let made = match step {
        Step::Thumbnail => app
            .media
            .thumbnail(&original, partial.path())
            .await
            .map(drop),
        Step::Hls => app.media.hls(&original, partial.path()).await.map(drop),
    };
    if let Err(failure) = made {
        return Ok(failure.into());
    }
    app.storage.publish(partial).await?;
    if !events::set_step(app, asset, step, StepStatus::Ready, None).await? {
        // Deleted while the work ran: leave nothing behind.
        app.storage.remove_output(asset, &output).await?;
    }
    Ok(Outcome::Done)
}

pub(super) async fn failed(app: &App, asset: AssetId, step: Step, error: &str) {
    if let Err(e) = events::set_step(app, asset, step, StepStatus::Error, Some(error)).await {
        tracing::error!(%asset, error = %e, "could not record a failed step");
    }
}
