//! The one way an asset is deleted.

use super::plan::Work;
use crate::app::App;
use crate::db;
use crate::domain::{AccountId, AssetId};

/// What a delete came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    NotFound,
    /// Indexed assets reference it, and the delete was not forced.
    InUse {
        references: u64,
    },
}

/// The one way an asset is deleted. In one transaction: with `force`, the
/// references to it go first; then its row, in a statement that also checks
/// that nothing references it (so a reference made concurrently either comes
/// first and blocks the delete, or finds the asset gone); then its jobs are
/// cancelled and a job to remove its files is queued. After the commit the
/// files are removed at once too; the job covers a node that dies first.
pub async fn delete(
    app: &App,
    account: AccountId,
    id: AssetId,
    force: bool,
) -> anyhow::Result<Deleted> {
    let App {
        pool,
        storage,
        queue,
        config,
        ..
    } = app;
    let mut tx = db::begin_write(pool).await?;
    if force {
        db::indexes::delete_references(&mut tx, account, id).await?;
    }
    // The asset as it was, for its event: rolled back with the rest when the
    // delete is refused.
    super::events::record_asset(&app.outbox(), &mut tx, super::EventType::AssetDeleted, id).await?;
    if !db::assets::delete(&mut tx, account, id).await? {
        tx.rollback().await?;
        if db::assets::find(pool, account, id).await?.is_none() {
            return Ok(Deleted::NotFound);
        }
        let references = db::indexes::count_references(pool, id).await?;
        return Ok(Deleted::InUse { references });
    }
    queue.cancel_resource(&mut tx, &id.as_string()).await?;
    // The files go by a job in this same transaction: after the row, never
    // before it (which could leave a row without its file), and even if this
    // node dies right after the commit.
    let purge = Work::Purge.job(id, config.job_max_attempts);
    queue.enqueue(&mut tx, &purge).await?;
    tx.commit().await?;
    // Removed at once as well, so that the files are gone when the client
    // hears that the asset is; the job then finds nothing left to do.
    if let Err(e) = storage.remove_asset(id).await {
        tracing::warn!(asset = %id, error = %e, "could not remove a deleted asset's files yet; its purge job will");
    }
    queue.wake();
    Ok(Deleted::Yes)
}
