//! Plain types that validate themselves. Everything past the HTTP edge holds
//! these instead of raw strings, so an invalid value cannot travel further.

mod asset;
mod filename;
mod ids;
mod page;
mod time;
mod user_metadata;

pub use asset::{AssetKind, AssetMethod, AssetStatus, Step, StepStatus};
pub use filename::Filename;
pub use ids::{AccountId, AssetId, IndexId, IndexedAssetId, KeyId};
pub use page::{Page, PageLimit};
pub use time::Timestamp;
pub use user_metadata::UserMetadata;

/// Why a raw value was refused; the HTTP layer names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}
