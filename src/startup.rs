//! Builds the server: data dir, database, sweeps, listener; then runs it until a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use url::Url;

use crate::app::{App, AppState};
use crate::config::ServeConfig;
use crate::fetch::UrlFetcher;
use crate::media_child::{MediaProgram, MediaRunner};
use crate::signing::{self, UrlSigner};
use crate::storage::Storage;
use crate::{db, http, jobs, keys};
use assetd_queue::Queue;
use tokio_util::sync::CancellationToken;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// `--metrics-bind`: `GET /metrics` on an address of its own.
    metrics: Option<(TcpListener, axum::Router)>,
    shutdown_timeout: Duration,
    stop_jobs: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(config.data_path())
            .await
            .with_context(|| format!("creating data dir {}", config.data_path().display()))?;
        let storage = Storage::open(&config.data_dir, config.max_upload_bytes).await?;
        storage
            .prepare()
            .await
            .with_context(|| format!("preparing {}", storage.root().display()))?;
        let pool = db::open(&config.data_dir).await?;
        let inline_reads = db::inline_reads::InlineReads::of_url(&config.data_dir.database_url()?);
        // On SQLite this is the only server on the data dir. On PostgreSQL
        // other nodes may share it and be writing right now: only what nobody
        // touched for a while is left over from a crash.
        let grace = match db::Dialect::of(&pool) {
            db::Dialect::Sqlite => Duration::ZERO,
            db::Dialect::Postgres => SHARED_SWEEP_GRACE,
        };
        let swept = storage.sweep_tmp(grace).await.context("sweeping tmp/")?;
        if swept > 0 {
            tracing::info!(
                count = swept,
                "removed temporary files left by an interrupted run"
            );
        }
        if let Some(key) = &config.api_key {
            keys::register_configured_key(&pool, key).await?;
        }
        sweep_orphan_folders(&pool, &storage, grace).await?;

        if config.media_redirect && !storage.keeps_working_copies() {
            anyhow::bail!("--media-redirect (ASSETD_MEDIA_REDIRECT) needs --storage s3: there is no bucket to redirect to");
        }
        let media = MediaRunner::new(
            MediaProgram::beside_this_binary()?,
            config.media_concurrency(),
            config.media_timeout(),
            config.hls_timeout(),
        );
        let fetcher = UrlFetcher::new(config.allow_private_urls, config.url_timeout())?;

        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr} (--metrics-bind)"))?,
            ),
            None => None,
        };
        let listen_url = listen_url(listener.local_addr()?)?;
        match &config.public_url {
            Some(url) => tracing::info!(%url, "absolute URLs start with --public-url"),
            None if config.trust_proxy => tracing::info!(
                "absolute URLs start with the Forwarded or X-Forwarded-* headers of each request, else its Host (no --public-url; --trust-proxy)"
            ),
            None => tracing::info!(
                "absolute URLs start with the Host of each request (no --public-url)"
            ),
        }
        let signer = UrlSigner::new(signing_key(&pool, &config).await?, config.media_url_ttl());
        let queue = Queue::new(pool.clone(), config.retry_policy());
        let shutdown_timeout = config.shutdown_timeout();
        let keys = keys::KeyCache::new(Duration::from_secs(config.key_cache_secs));
        // A worker node answers no reads.
        let read_cache = match db::Dialect::of(&pool) {
            db::Dialect::Postgres if config.read_cache_secs > 0 && !config.no_api => Some(
                db::read_cache::ReadCache::new(Duration::from_secs(config.read_cache_secs)),
            ),
            _ => None,
        };
        let app: AppState = Arc::new(App {
            config,
            pool,
            storage,
            media,
            queue,
            fetcher,
            signer,
            keys,
            inline_reads,
            read_cache,
            listen_url,
        });
        let stop_jobs = CancellationToken::new();
        // Installed before anything records (a handle made earlier would record nowhere).
        crate::stats::recorder();
        let mut workers = jobs::start_workers(&app, &stop_jobs);
        workers.push(crate::stats::spawn_upkeep(stop_jobs.clone()));
        workers.push(prune_webhook_events(app.clone(), stop_jobs.clone()));
        if let Some(cache) = &app.read_cache {
            workers.push(db::read_cache::spawn_listening(
                cache.clone(),
                app.config.data_dir.database_url()?,
                stop_jobs.clone(),
            ));
        }
        workers.push(crate::db::name_grams::spawn_folding(
            app.pool.clone(),
            stop_jobs.clone(),
        ));
        if app.storage.keeps_working_copies() {
            workers.push(trim_working_copies(&app, stop_jobs.clone()));
            workers.push(abort_stale_multipart_uploads(
                stop_jobs.clone(),
                app.clone(),
            ));
        }
        let metrics =
            metrics_listener.map(|listener| (listener, http::metrics_router(app.clone())));
        Ok(Self {
            listener,
            router: http::router(app),
            metrics,
            shutdown_timeout,
            stop_jobs,
            workers,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `GET /metrics` is served when it has an address of its own.
    pub fn metrics_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.metrics
            .as_ref()
            .map(|(listener, _)| listener.local_addr())
            .transpose()
    }

    /// Serves until SIGTERM or Ctrl-C, then stops accepting and lets in-flight
    /// requests finish for up to the shutdown timeout. Requests still running
    /// then are dropped, and their temporary files with them.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stopping = tokio_util::sync::CancellationToken::new();
        let signal = stopping.clone();
        if let Some((listener, router)) = self.metrics {
            let stopped = stopping.clone();
            tokio::spawn(async move {
                let scrapes = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stopped.cancelled().await });
                if let Err(e) = scrapes.await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: no new connections, waiting for requests in flight");
            signal.cancel();
        });
        let deadline = async {
            stopping.cancelled().await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = deadline => tracing::warn!("requests still running after the shutdown timeout were cut off"),
        }
        // Running jobs are stopped and handed back to the queue for the next start.
        self.stop_jobs.cancel();
        for worker in self.workers {
            let _ = worker.await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Removes webhook events (and their delivery records) older than
/// `--webhook-event-days`: at start-up, then hourly. Nodes doing it at once
/// delete the same rows; that is harmless.
fn prune_webhook_events(app: AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let keep = Duration::from_secs(app.config.webhook_event_days * 24 * 3600);
        loop {
            let before = db::now_millis() - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
            match db::webhooks::prune_events(&app.pool, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned old webhook events"),
                Err(e) => tracing::warn!(error = %e, "could not prune old webhook events"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}

/// With S3, keeps the data dir's working copies within `--scratch-max-bytes`,
/// every `--scratch-trim-secs`, sparing what was written to within two rounds.
fn trim_working_copies(app: &AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        let every = Duration::from_secs(app.config.data_dir.scratch_trim_secs.max(1));
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stop.cancelled() => return,
            }
            let max = app.config.data_dir.scratch_max_bytes;
            match app.storage.trim_working_copies(max, every * 2).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(folders = n, "removed working copies kept in the bucket"),
                Err(e) => tracing::warn!(error = %e, "could not trim the working copies"),
            }
        }
    })
}

/// With S3, aborts the multipart uploads that nodes which died mid-upload left
/// (S3 keeps and bills their parts): at start-up and then every hour. Several
/// nodes doing it at once is harmless, an abort of an aborted upload is fine.
fn abort_stale_multipart_uploads(
    stop: CancellationToken,
    app: AppState,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match app.storage.stale_multipart_uploads().await {
                Ok(stale) => {
                    for upload in stale {
                        if let Err(e) = app.storage.abort_multipart_upload(&upload).await {
                            tracing::warn!(key = %upload.key, error = %e, "could not abort a stale multipart upload");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list the multipart uploads"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}

/// How long a file in a data dir that other nodes may share must have been
/// left alone before the start-up sweep takes it for a crash's leftover: far
/// longer than the moment between publishing an upload and inserting its row.
const SHARED_SWEEP_GRACE: Duration = Duration::from_secs(3600);

/// The key that signs media URLs: `--signing-secret`, else the one in the
/// database, which every node shares. The first node to start stores it: a
/// new one, or that of the `secret` file where older versions kept it, so
/// that the URLs they handed out stay valid.
async fn signing_key(pool: &db::Pool, config: &ServeConfig) -> anyhow::Result<[u8; 32]> {
    if let Some(secret) = &config.signing_secret {
        return signing::parse_key(secret)
            .context("--signing-secret (ASSETD_SIGNING_SECRET) must be 64 hex digits");
    }
    let old_file = config.data_path().join("secret");
    let candidate = match std::fs::read_to_string(&old_file) {
        Ok(text) if signing::parse_key(&text).is_ok() => text.trim().to_string(),
        Ok(_) => anyhow::bail!("{} is not a 64-digit hex secret", old_file.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => signing::generate_key(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", old_file.display())),
    };
    let stored = db::settings::get_or_insert(pool, "media_url_signing_key", &candidate).await?;
    signing::parse_key(&stored)
        .context("the media URL signing key stored in the database is damaged")
}

/// The server's own address as a URL: the base for a request without a Host
/// (HTTP/1.0). An unspecified bind address (`0.0.0.0`) is no address to hand
/// out, so loopback stands in for it.
fn listen_url(addr: SocketAddr) -> anyhow::Result<Url> {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(Url::parse(&format!("http://{addr}/"))?)
}

/// Removes asset folders that have no row: left by a crash between moving a file
/// into place and inserting its row, or between deleting a row and its folder.
/// Start-up only, while no upload of this server is in flight; folders that
/// changed within `grace` may be another node's upload between its two steps.
async fn sweep_orphan_folders(
    pool: &db::Pool,
    storage: &Storage,
    grace: Duration,
) -> anyhow::Result<()> {
    let folders = storage
        .asset_folders()
        .await
        .context("listing asset folders")?;
    for batch in folders.chunks(500) {
        let names: Vec<String> = batch.iter().map(|f| f.name.clone()).collect();
        let known = db::assets::existing_ids(pool, &names).await?;
        for folder in batch {
            if !known.contains(&folder.name) && folder.untouched_for(grace) {
                storage
                    .remove_asset_folder(folder)
                    .await
                    .with_context(|| format!("removing orphan asset folder {}", folder.name))?;
            }
        }
    }
    Ok(())
}
