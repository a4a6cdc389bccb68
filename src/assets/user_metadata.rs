//! Changing an asset's user metadata after it was created: replace (PUT),
//! merge (PATCH) or clear (DELETE), with the platform's rules for empty and
//! null values (`UserMetadata::replaced_by`, `merged_with`).

use crate::db::{self, Pool};
use crate::domain::{AccountId, AssetId, Invalid, UserMetadata};

pub enum MetadataChange {
    Replace(UserMetadata),
    Merge(UserMetadata),
    Clear,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("no such asset")]
    NotFound,
    /// The result would break a limit (a merge that grows past it).
    #[error("{}", .0.0)]
    Invalid(Invalid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Applies `change` to an asset of `account`. Compare-and-swap on the stored
/// text, so that changes at once all land (each loser reads again).
pub async fn change_user_metadata(
    pool: &Pool,
    account: AccountId,
    id: AssetId,
    change: MetadataChange,
) -> Result<(), MetadataError> {
    loop {
        let stored = db::assets::user_metadata(pool, account, id)
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
        if db::assets::swap_user_metadata(pool, account, id, stored.as_deref(), next.as_deref())
            .await?
        {
            return Ok(());
        }
    }
}
