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

/// Refuses text with control characters: no name holds one, and PostgreSQL
/// cannot store a NUL. (The OpenAPI document says the same with the pattern
/// `^[^\x00-\x1f\x7f-\x9f]*$`.)
pub fn printable(raw: &str) -> Result<&str, Invalid> {
    if raw.chars().any(char::is_control) {
        return Err(Invalid::new("it must not contain control characters"));
    }
    Ok(raw)
}
