//! The asset lifecycle: taking a new asset in (direct upload and URL), the
//! verdict of its probe, which background work it needs, and its delete.
//! Called by `http` and by `jobs`; never calls either.

mod delete;
mod ingest;
pub mod multipart;
mod plan;
mod reconcile;
mod retry;
mod technical;
mod user_metadata;

pub use delete::{delete, Deleted};
pub use ingest::{finish_processing, ingest, ingest_url, IngestError, NewAssetRequest, Verdict};
pub use plan::{asset_of, Work};
pub use reconcile::{fsck, Problem};
pub use retry::{retry_failed, RetryScope};
pub use user_metadata::{change_user_metadata, MetadataChange, MetadataError, MetadataOwner};
