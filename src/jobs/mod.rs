//! Background jobs, on assetd-queue. A job kind is a type implementing
//! [`AssetJob`] in a file named after it; [`start_workers`] registers every
//! kind in one list. Which work an asset needs, and the enqueueing of it in
//! the same transaction as the asset's row, belong to `assets::Work`.

mod assemble;
pub mod cli;
mod expire_upload;
mod fetch;
mod hls;
mod media_step;
mod probe;
mod purge;
mod thumbnail;
mod webhook;

use std::future::Future;
use std::marker::PhantomData;

use assetd_queue::{spawn_workers, Handler, Job, Outcome, WorkerOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppState};
use crate::assets::{asset_of, Work};
use crate::config::ServeConfig;
use crate::domain::AssetId;

/// One kind of job: the work it does for one asset.
pub trait AssetJob: Send + Sync + 'static {
    /// The work this job does; its kind in the queue.
    const WORK: Work;

    /// Jobs of this kind running at once in this process (0 leaves them to others).
    fn concurrency(config: &ServeConfig) -> usize;

    fn run(app: &App, asset: AssetId) -> impl Future<Output = Outcome> + Send;

    /// The job ended failed (the input's fault, its last attempt, or too many
    /// interruptions): show the error on the asset.
    fn failed(app: &App, asset: AssetId, error: &str) -> impl Future<Output = ()> + Send;
}

/// Starts the workers of every job kind; they stop, handing running jobs
/// back, when `stop` is cancelled.
pub fn start_workers(app: &AppState, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
    let mut workers = Workers {
        app,
        stop,
        owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        started: Vec::new(),
    };
    workers.register::<probe::Probe>();
    workers.register::<fetch::Fetch>();
    workers.register::<thumbnail::Thumbnail>();
    workers.register::<hls::Hls>();
    workers.register::<purge::Purge>();
    workers.register::<assemble::Assemble>();
    workers.register::<expire_upload::ExpireUpload>();
    workers.spawn(
        crate::assets::DELIVERY_KIND,
        app.config.webhook_workers,
        webhook::Deliver { app: app.clone() },
    );
    // On PostgreSQL, jobs queued by other nodes wake this node's idle workers
    // at once instead of at their next poll.
    if !workers.started.is_empty() {
        workers.started.extend(app.queue.listen(stop.clone()));
    }
    workers.started
}

struct Workers<'a> {
    app: &'a AppState,
    stop: &'a CancellationToken,
    /// Names this process's claims, so that a clean stop can hand them back.
    owner: String,
    started: Vec<JoinHandle<()>>,
}

impl Workers<'_> {
    fn register<J: AssetJob>(&mut self) {
        let concurrency = J::concurrency(&self.app.config);
        let handler = Runner::<J> {
            app: self.app.clone(),
            job: PhantomData,
        };
        self.spawn(J::WORK.kind(), concurrency, handler);
    }

    /// Starts up to `concurrency` workers of `kind` (none for 0).
    fn spawn(&mut self, kind: &str, concurrency: usize, handler: impl Handler) {
        if concurrency == 0 {
            return;
        }
        let config = &self.app.config;
        let options = WorkerOptions {
            kind: kind.to_string(),
            concurrency,
            lease: config.job_lease(),
            poll_interval: config.job_poll_interval(),
            owner: self.owner.clone(),
            max_interruptions: config.job_max_interruptions,
        };
        self.started.push(spawn_workers(
            self.app.queue.clone(),
            options,
            std::sync::Arc::new(handler),
            self.stop.clone(),
        ));
    }
}

/// Adapts an [`AssetJob`] to the queue's untyped [`Handler`].
struct Runner<J> {
    app: AppState,
    job: PhantomData<fn() -> J>,
}

impl<J: AssetJob> Handler for Runner<J> {
    async fn run(&self, job: &Job) -> Outcome {
        match asset_of(job) {
            Some(asset) => J::run(&self.app, asset).await,
            None => Outcome::Fail("The job's payload names no asset.".into()),
        }
    }

    async fn failed(&self, job: &Job, error: &str) {
        if let Some(asset) = asset_of(job) {
            J::failed(&self.app, asset, error).await;
        }
    }
}

/// An unexpected error inside a job (database, file system) is our fault: retry.
fn retry_on_error(result: anyhow::Result<Outcome>) -> Outcome {
    result.unwrap_or_else(|e| Outcome::Retry(format!("{e:#}")))
}
