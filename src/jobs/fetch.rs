//! `fetch`: downloads the source URL of an asset that was too large (or of
//! unknown size) to fetch within the request, resuming where an earlier
//! attempt stopped when the origin supports ranges, then probes it.

use assetd_queue::Outcome;

use super::probe::{probe_and_finish, record_failure, still_processing};
use super::{retry_on_error, AssetJob};
use crate::app::App;
use crate::assets::Work;
use crate::config::ServeConfig;
use crate::db;
use crate::domain::AssetId;
use crate::fetch::FetchError;

pub struct Fetch;

impl AssetJob for Fetch {
    const WORK: Work = Work::Fetch;

    fn concurrency(config: &ServeConfig) -> usize {
        config.fetch_workers
    }

    async fn run(app: &App, asset: AssetId) -> Outcome {
        retry_on_error(
            async {
                let Some(record) = still_processing(app, asset).await? else {
                    return Ok(Outcome::Done);
                };
                let Some(source) = record.source_url.as_deref() else {
                    return Ok(Outcome::Fail("The asset has no URL to download.".into()));
                };
                match download(app, asset, source).await? {
                    Outcome::Done => probe_and_finish(app, asset).await,
                    unfinished => Ok(unfinished),
                }
            }
            .await,
        )
    }

    async fn failed(app: &App, asset: AssetId, error: &str) {
        if let Err(e) = app.storage.discard_download(asset).await {
            tracing::warn!(%asset, error = %e, "could not remove an abandoned download");
        }
        record_failure(app, asset, error).await;
    }
}

/// Downloads the file through the storage writer (which hashes and caps it)
/// and publishes it as the asset's original. A passing fault keeps what
/// arrived, for the next attempt to resume from.
async fn download(app: &App, asset: AssetId, source: &str) -> anyhow::Result<Outcome> {
    let url = match app.fetcher.parse(source) {
        Ok(url) => url,
        Err(e) => return Ok(Outcome::Fail(download_message(&e))),
    };
    let have = app.storage.downloaded_so_far(asset).await;
    let saved = match app.fetcher.open(url, have).await {
        Ok(download) => {
            let keep = if download.resumes_at(have) { have } else { 0 };
            if keep > 0 {
                tracing::info!(from = keep, "resuming a download");
            }
            let writer = app.storage.continue_download(asset, keep).await?;
            download.save(writer).await
        }
        Err(e) => Err(e),
    };
    let upload = match saved {
        Ok(upload) => upload,
        Err(e @ (FetchError::Remote(_) | FetchError::Io(_))) => {
            return Ok(Outcome::Retry(download_message(&e)))
        }
        Err(e) => {
            app.storage.discard_download(asset).await?;
            return Ok(Outcome::Fail(download_message(&e)));
        }
    };
    if upload.size() == 0 {
        app.storage.discard_download(asset).await?;
        return Ok(Outcome::Fail("The URL's file is empty.".into()));
    }
    let (size, sha256) = (upload.size(), upload.sha256().to_string());
    app.storage.store_for_existing(upload).await?;
    db::assets::set_file(&app.pool, asset, size, &sha256).await?;
    Ok(Outcome::Done)
}

fn download_message(e: &FetchError) -> String {
    match e {
        FetchError::TooLarge { .. } | FetchError::NotAllowed(_) => e.to_string(),
        other => format!("The file could not be downloaded: {other}."),
    }
}
