//! `assetd fsck`: checks that the rows and the stored files agree, and with
//! `repair` makes them agree. Safe while servers run on the same data: a file
//! or folder that changed within [`GRACE`] may be an upload in flight between
//! its two steps, so it is left alone.

use std::collections::HashSet;
use std::time::Duration;

use assetd_queue::Queue;

use super::events::{EventType, Outbox};
use super::plan::Work;
use crate::db::{self, Pool};
use crate::domain::{AssetId, AssetStatus, Step, StepStatus};
use crate::storage::{AssetFile, Storage};

/// How long a file must have been left alone before it counts as a leftover.
pub const GRACE: Duration = Duration::from_secs(3600);

/// What `fsck` may find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A ready asset whose original is not stored. Repair: the asset fails
    /// with a message saying so (its row stays, for its owner to see).
    MissingOriginal(AssetId),
    /// A step marked ready whose output is not stored. Repair: the step goes
    /// back to pending and its job is queued again.
    MissingOutput(AssetId, Step),
    /// An asset folder without a row. Repair: removed.
    OrphanFolder(String),
    /// Objects in the bucket of an asset without a row. Repair: deleted.
    OrphanObjects(String),
    /// A multipart upload to the bucket begun long ago and never finished
    /// (its node died). Repair: aborted, which deletes its parts.
    StaleMultipartUpload(String),
    /// A file in tmp/ nobody wrote to for a long time. Repair: removed.
    StaleTemporary(String),
    /// A queued or running job about an asset that has no row. Repair: cancelled.
    JobWithoutAsset { kind: String, asset: String },
    /// A job that failed; `assetd jobs retry` queues it again. Not repaired:
    /// whether to try again is the operator's call.
    FailedJob { kind: String, asset: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingOriginal(id) => write!(f, "asset {id}: ready, but its file is missing"),
            Self::MissingOutput(id, step) => {
                let step = match step {
                    Step::Thumbnail => "thumbnail",
                    Step::Hls => "hls",
                };
                write!(f, "asset {id}: {step} ready, but its output is missing")
            }
            Self::OrphanFolder(name) => write!(f, "folder assets/…/{name}: no asset row"),
            Self::OrphanObjects(name) => {
                write!(f, "objects assets/{name}/… in the bucket: no asset row")
            }
            Self::StaleMultipartUpload(key) => {
                write!(f, "multipart upload of {key} in the bucket: never finished")
            }
            Self::StaleTemporary(name) => {
                write!(f, "tmp/{name}: left by an upload that never finished")
            }
            Self::JobWithoutAsset { kind, asset } => {
                write!(f, "{kind} job of asset {asset}: the asset has no row")
            }
            Self::FailedJob { kind, asset } => write!(
                f,
                "{kind} job of asset {asset}: failed (assetd jobs retry --asset {asset})"
            ),
        }
    }
}

impl Problem {
    /// Whether `repair` fixes it.
    pub fn repairable(&self) -> bool {
        !matches!(self, Self::FailedJob { .. })
    }
}

/// Every problem found, and (with `repair`) fixed as it was found.
pub async fn fsck(
    pool: &Pool,
    storage: &Storage,
    outbox: &Outbox<'_>,
    max_attempts: u32,
    repair: bool,
) -> anyhow::Result<Vec<Problem>> {
    let queue = outbox.queue;
    let mut found = Vec::new();
    let mut rows = HashSet::new();
    let mut after = None;
    loop {
        let page = db::assets::page_by_id(pool, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for asset in page {
            rows.insert(asset.id.as_string());
            if asset.status != AssetStatus::Ready {
                continue;
            }
            if !storage.has_original(asset.id).await? {
                found.push(Problem::MissingOriginal(asset.id));
                if repair {
                    mark_lost(pool, outbox, asset.id).await?;
                }
                continue;
            }
            for (step, status) in [
                (Step::Thumbnail, asset.thumbnail_status),
                (Step::Hls, asset.hls_status),
            ] {
                if status == Some(StepStatus::Ready)
                    && storage
                        .published(asset.id, &output_of(step))
                        .await
                        .is_none()
                {
                    found.push(Problem::MissingOutput(asset.id, step));
                    if repair {
                        make_again(pool, queue, asset.id, step, max_attempts).await?;
                    }
                }
            }
        }
    }

    for folder in storage.asset_folders().await? {
        if !rows.contains(&folder.name) && folder.untouched_for(GRACE) {
            found.push(Problem::OrphanFolder(folder.name.clone()));
            if repair {
                storage.remove_asset_folder(&folder).await?;
            }
        }
    }
    for name in storage.objects_untouched_for(GRACE).await? {
        if !rows.contains(&name) {
            found.push(Problem::OrphanObjects(name.clone()));
            if repair {
                storage.remove_objects(&name).await?;
            }
        }
    }
    for upload in storage.stale_multipart_uploads().await? {
        found.push(Problem::StaleMultipartUpload(upload.key.clone()));
        if repair {
            storage.abort_multipart_upload(&upload).await?;
        }
    }
    for path in storage.stale_tmp(GRACE).await? {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        found.push(Problem::StaleTemporary(name));
        if repair {
            storage.remove_stale_tmp(&path).await?;
        }
    }

    for job in queue.unfinished().await? {
        // Only asset work is about an asset (a webhook delivery outlives its
        // deleted asset on purpose).
        let Some(asset) = job
            .resource
            .clone()
            .filter(|_| Work::from_kind(&job.kind).is_some())
        else {
            continue;
        };
        if job.state == "failed" {
            found.push(Problem::FailedJob {
                kind: job.kind,
                asset,
            });
        } else if job.kind != Work::Purge.kind() && !rows.contains(&asset) {
            found.push(Problem::JobWithoutAsset {
                kind: job.kind,
                asset: asset.clone(),
            });
            if repair {
                let mut conn = pool.acquire().await?;
                queue.cancel_resource(&mut conn, &asset).await?;
            }
        }
    }
    Ok(found)
}

/// The file whose presence says a step's output is there.
fn output_of(step: Step) -> AssetFile {
    match step {
        Step::Thumbnail => AssetFile::Thumbnail,
        Step::Hls => AssetFile::hls_master(),
    }
}

/// Fails an asset whose original is gone, with its `asset.failed` event, in
/// one transaction.
async fn mark_lost(pool: &Pool, outbox: &Outbox<'_>, id: AssetId) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    if db::assets::mark_lost(&mut *tx, id, "The stored file is missing; upload it again.").await? {
        super::events::record_asset(outbox, &mut tx, EventType::AssetFailed, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Puts a step back to pending and queues its job, in one transaction.
async fn make_again(
    pool: &Pool,
    queue: &Queue,
    asset: AssetId,
    step: Step,
    max_attempts: u32,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    db::assets::set_step(&mut *tx, asset, step, StepStatus::Pending, None).await?;
    queue
        .enqueue(&mut tx, &Work::for_step(step).job(asset, max_attempts))
        .await?;
    tx.commit().await?;
    Ok(())
}
