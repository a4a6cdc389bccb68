//! Changing the user metadata of an asset (replace: PUT, merge: PATCH, clear:
//! DELETE) or of an indexed asset (merge), with the platform's rules for
//! empty and null values (`UserMetadata::replaced_by`, `merged_with`).

use crate::db::{self, Pool};
use crate::domain::{AccountId, AssetId, IndexId, IndexedAssetId, Invalid, UserMetadata};

/// Whose metadata changes.
#[derive(Debug, Clone, Copy)]
pub enum MetadataOwner {
    Asset(AssetId),
    IndexedAsset(IndexId, IndexedAssetId),
}

impl MetadataOwner {
    async fn read(self, pool: &Pool, account: AccountId) -> sqlx::Result<Option<Option<String>>> {
        match self {
            Self::Asset(id) => db::assets::user_metadata(pool, account, id).await,
            Self::IndexedAsset(index, id) => {
                db::indexes::indexed_user_metadata(pool, account, index, id).await
            }
        }
    }

    async fn swap(
        self,
        pool: &Pool,
        account: AccountId,
        old: Option<&str>,
        new: Option<&str>,
    ) -> sqlx::Result<bool> {
        match self {
            Self::Asset(id) => db::assets::swap_user_metadata(pool, account, id, old, new).await,
            Self::IndexedAsset(index, id) => {
                db::indexes::swap_indexed_user_metadata(pool, account, index, id, old, new).await
            }
        }
    }
}

pub enum MetadataChange {
    Replace(UserMetadata),
    Merge(UserMetadata),
    Clear,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("no such asset or indexed asset")]
    NotFound,
    /// The result would break a limit (a merge that grows past it).
    #[error("{}", .0.0)]
    Invalid(Invalid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Applies `change` to what `owner` names, of `account`. Compare-and-swap on
/// the stored text, so that changes at once all land (each loser reads again).
pub async fn change_user_metadata(
    pool: &Pool,
    account: AccountId,
    owner: MetadataOwner,
    change: MetadataChange,
) -> Result<(), MetadataError> {
    loop {
        let stored = owner
            .read(pool, account)
            .await?
            .ok_or(MetadataError::NotFound)?;
        let next = match &change {
            MetadataChange::Replace(update) => UserMetadata::replaced_by(update.clone()),
            MetadataChange::Clear => UserMetadata::default(),
            MetadataChange::Merge(update) => {
                let current = match &stored {
                    Some(text) => UserMetadata::parse(text).unwrap_or_default(),
                    None => UserMetadata::default(),
                };
                current
                    .merged_with(update.clone())
                    .map_err(MetadataError::Invalid)?
            }
        };
        // None keeps the asset's answer free of an empty `user_metadata`.
        let next = (!next.is_empty()).then(|| next.to_json());
        if owner
            .swap(pool, account, stored.as_deref(), next.as_deref())
            .await?
        {
            return Ok(());
        }
    }
}
