//! The one way an asset is deleted.

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
/// cancelled. After the commit its files go.
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
        ..
    } = app;
    let mut tx = pool.begin().await?;
    if force {
        db::indexes::delete_references(&mut tx, account, id).await?;
    }
    if !db::assets::delete(&mut tx, account, id).await? {
        tx.rollback().await?;
        if db::assets::find(pool, account, id).await?.is_none() {
            return Ok(Deleted::NotFound);
        }
        let references = db::indexes::count_references(pool, id).await?;
        return Ok(Deleted::InUse { references });
    }
    queue.cancel_resource(&mut tx, &id.as_string()).await?;
    tx.commit().await?;
    // After the commit: a crash here leaves an orphan folder, which the start-up
    // sweep removes; the reverse order could leave a row without its file.
    if let Err(e) = storage.remove_asset(id).await {
        tracing::warn!(asset = %id, error = %e, "could not remove the files of a deleted asset");
    }
    Ok(Deleted::Yes)
}
