//! Trying failed work again, on an operator's word (`assetd jobs retry`):
//! the failed jobs are queued with fresh attempts, and what they are about
//! goes back to the state it had before they failed, in one transaction.

use assetd_queue::Queue;

use super::plan::Work;
use crate::db::{self, Pool};
use crate::domain::{AssetId, Step, StepStatus};

/// Which failed work to try again.
pub enum RetryScope {
    Asset(AssetId),
    AllFailed,
}

/// Queues the failed jobs in `scope` again; a failed probe or download puts
/// its asset back to `processing`, a failed step back to `pending`. Returns
/// the kind and asset of each job queued again. Safe while a server runs on
/// the same database: its workers pick the jobs up.
pub async fn retry_failed(
    pool: &Pool,
    queue: &Queue,
    scope: RetryScope,
) -> anyhow::Result<Vec<(String, AssetId)>> {
    let resource = match &scope {
        RetryScope::Asset(id) => Some(id.as_string()),
        RetryScope::AllFailed => None,
    };
    let mut tx = pool.begin().await?;
    let jobs = queue.retry_failed(&mut tx, resource.as_deref()).await?;
    let mut retried = Vec::new();
    for job in jobs {
        let Some(asset) = job.resource.as_deref().and_then(|r| AssetId::parse(r).ok()) else {
            continue;
        };
        match Work::from_kind(&job.kind) {
            Some(Work::Probe | Work::Fetch | Work::Assemble) => {
                db::assets::reopen(&mut tx, asset).await?;
            }
            Some(Work::Thumbnail) => {
                db::assets::set_step(&mut *tx, asset, Step::Thumbnail, StepStatus::Pending, None)
                    .await?;
            }
            Some(Work::Hls) => {
                db::assets::set_step(&mut *tx, asset, Step::Hls, StepStatus::Pending, None).await?;
            }
            // Nothing to reset: a purged asset has no row, an expired
            // session's asset failed for good.
            Some(Work::Purge | Work::ExpireUpload) | None => {}
        }
        retried.push((job.kind, asset));
    }
    tx.commit().await?;
    queue.wake();
    Ok(retried)
}
