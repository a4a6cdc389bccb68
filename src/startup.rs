//! Builds the server: data dir, database, sweeps, listener; then runs it until a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use url::Url;

use crate::config::ServeConfig;
use crate::fetch::UrlFetcher;
use crate::http::rate_limit::CreateLimiter;
use crate::http::{self, AppState};
use crate::jobs::{self, JobContext};
use crate::media::MediaRunner;
use crate::signing::UrlSigner;
use crate::storage::Storage;
use crate::{db, keys};
use assetd_queue::Queue;
use tokio_util::sync::CancellationToken;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    shutdown_timeout: Duration,
    stop_jobs: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let storage = Storage::new(config.data_path());
        storage
            .prepare()
            .await
            .with_context(|| format!("preparing data dir {}", config.data_path().display()))?;
        let swept = storage.sweep_tmp().await.context("sweeping tmp/")?;
        if !swept.is_empty() {
            tracing::info!(
                count = swept.len(),
                "removed temporary files left by an interrupted run"
            );
        }

        let pool = db::connect(&config.data_dir.database_file()).await?;
        if let Some(key) = &config.api_key {
            keys::register_configured_key(&pool, key).await?;
        }
        sweep_orphan_folders(&pool, &storage).await?;

        let exe = std::env::current_exe()
            .context("locating the assetd binary for media child processes")?;
        let media = MediaRunner::new(
            exe,
            config.media_concurrency(),
            config.media_timeout(),
            config.hls_timeout(),
        );
        let fetcher = UrlFetcher::new(config.allow_private_urls, config.url_timeout())?;

        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let local_addr = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{local_addr}/"))?,
        };
        let signer =
            UrlSigner::load_or_create(config.data_path(), config.media_url_ttl(), &public_url)?;
        let queue = Queue::new(pool.clone(), config.retry_policy());
        let stop_jobs = CancellationToken::new();
        let context = JobContext {
            pool: pool.clone(),
            storage: storage.clone(),
            media: media.clone(),
            queue: queue.clone(),
            fetcher: fetcher.clone(),
            max_upload_bytes: config.max_upload_bytes,
            job_max_attempts: config.job_max_attempts,
        };
        let workers = jobs::start_workers(context, &queue, &config, &stop_jobs);
        let shutdown_timeout = config.shutdown_timeout();
        let create_limiter =
            CreateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst).map(Arc::new);
        let state = AppState {
            config: Arc::new(config),
            pool,
            storage,
            media,
            fetcher,
            signer,
            queue,
            create_limiter,
        };
        Ok(Self {
            listener,
            router: http::router(state),
            shutdown_timeout,
            stop_jobs,
            workers,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then stops accepting and lets in-flight
    /// requests finish for up to the shutdown timeout. Requests still running
    /// then are dropped, and their temporary files with them.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stopping = tokio_util::sync::CancellationToken::new();
        let signal = stopping.clone();
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

/// Removes asset folders that have no row: left by a crash between moving a file
/// into place and inserting its row, or between deleting a row and its folder.
/// Start-up only, while no upload is in flight.
async fn sweep_orphan_folders(pool: &db::Pool, storage: &Storage) -> anyhow::Result<()> {
    let folders = storage
        .asset_folders()
        .await
        .context("listing asset folders")?;
    for batch in folders.chunks(500) {
        let names: Vec<String> = batch.iter().map(|(name, _)| name.clone()).collect();
        let known = db::assets::existing_ids(pool, &names).await?;
        for (name, path) in batch {
            if !known.contains(name) {
                tracing::info!(folder = %path.display(), "removing an asset folder that has no database row");
                tokio::fs::remove_dir_all(path)
                    .await
                    .with_context(|| format!("removing orphan folder {}", path.display()))?;
            }
        }
    }
    Ok(())
}
