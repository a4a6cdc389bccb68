//! The one context that HTTP handlers and job handlers share: configuration,
//! the database, file storage, the media runner, the job queue, the URL
//! fetcher and the media-URL signer. Built once by `startup`.

use std::sync::Arc;

use assetd_queue::Queue;

use crate::config::ServeConfig;
use crate::db::inline_reads::InlineReads;
use crate::db::read_cache::ReadCache;
use crate::db::Pool;
use crate::fetch::UrlFetcher;
use crate::keys::KeyCache;
use crate::media_child::MediaRunner;
use crate::signing::UrlSigner;
use crate::storage::Storage;

pub struct App {
    pub config: ServeConfig,
    pub pool: Pool,
    pub storage: Storage,
    pub media: MediaRunner,
    pub queue: Queue,
    pub fetcher: UrlFetcher,
    pub signer: UrlSigner,
    /// The accounts of recently presented API keys.
    pub keys: KeyCache,
    /// On SQLite: lookups by key on the calling thread (`db::inline_reads`).
    pub inline_reads: Option<InlineReads>,
    /// On PostgreSQL: recent answers to reads (`db::read_cache`); None when
    /// turned off.
    pub read_cache: Option<ReadCache>,
    /// This server's own address (`http://ADDR/`), for a request without a Host.
    pub listen_url: url::Url,
}

impl App {
    /// The base of the absolute URLs in what is not an answer to a request
    /// (webhook events): `--public-url`, else this server's own address.
    pub fn public_base(&self) -> &url::Url {
        self.config.public_url.as_ref().unwrap_or(&self.listen_url)
    }
}

/// What axum's `State` and the job handlers hold.
pub type AppState = Arc<App>;
