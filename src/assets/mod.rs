//! The asset lifecycle: taking a new asset in (direct upload and URL), the
//! verdict of its probe, which background work it needs, its delete, its wire
//! form, and the webhook events its changes record.
//! Called by `http` and by `jobs`; never calls either.

mod delete;
pub mod events;
mod ingest;
pub mod multipart;
mod plan;
mod reconcile;
mod retry;
mod technical;
mod user_metadata;
mod view;

pub use delete::{delete, Deleted};
pub use events::EventType;
pub use ingest::{finish_processing, ingest, ingest_url, IngestError, NewAssetRequest, Verdict};
pub use plan::{asset_of, delivery_of, Delivery, Work, DELIVERY_KIND};
pub use reconcile::{fsck, Problem};
pub use retry::{retry_failed, RetryScope};
pub use user_metadata::{change_user_metadata, MetadataChange, MetadataError, MetadataOwner};
pub use view::AssetView;
