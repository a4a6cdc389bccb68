//! Workers: claim jobs of one kind up to a concurrency limit, keep their leases
//! alive while they run, and record what happened.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{Job, Queue};

/// The histogram of job run times, in seconds, by `kind` and `outcome`
/// (`done`, `retry`, `failed`, `stopped`): named here so that the recorder
/// can give it buckets fit for jobs. `assetd_job_attempts` holds the attempt
/// each run was, by `kind`.
pub const JOB_DURATION_METRIC: &str = "assetd_job_duration_seconds";

/// What a job's work came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A transient failure (the system's fault): try again after a backoff, up to the cap.
    Retry(String),
    /// A permanent failure (the input's fault): no retry.
    Fail(String),
}

/// The work of one kind of job.
pub trait Handler: Send + Sync + 'static {
    fn run(&self, job: &Job) -> impl Future<Output = Outcome> + Send;

    /// Called once when a job ends failed (a permanent failure, its last attempt,
    /// or too many interruptions), before the queue records it, so that what the
    /// job was about can show the error.
    fn failed(&self, job: &Job, error: &str) -> impl Future<Output = ()> + Send;
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub kind: String,
    /// Jobs of this kind running at once in this process.
    pub concurrency: usize,
    /// How long a claim holds without a heartbeat; renewed every third of it.
    pub lease: Duration,
    /// How often an idle worker looks for due jobs (retries, other processes' jobs).
    pub poll_interval: Duration,
    /// Names this process's claims, so that [`Queue::release`] can hand them back.
    pub owner: String,
    /// A job interrupted more often than this (its process died while it ran)
    /// is marked failed instead of being run again.
    pub max_interruptions: u32,
}

/// Runs workers for one kind until `stop` is cancelled. The jobs running then
/// are stopped (their media children killed) and handed back to the queue at
/// once, without counting the attempt; if the process dies instead, their
/// leases run out and they are claimed again. Aborting the returned task stops
/// the running jobs too, as a dying process would.
pub fn spawn_workers<H: Handler>(
    queue: Queue,
    options: WorkerOptions,
    handler: Arc<H>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
        let wake = queue.woken();
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("never closed"),
                () = stop.cancelled() => break,
            };
            // Registered before the claim, so a wake between the two is not lost.
            let notified = wake.notified();
            match queue
                .claim(&options.kind, &options.owner, options.lease)
                .await
            {
                Ok(Some(job)) => {
                    let span = tracing::info_span!(
                        "job",
                        id = job.id,
                        kind = %job.kind,
                        attempt = job.attempt,
                        interruptions = job.interruptions
                    );
                    let task = run_one(queue.clone(), handler.clone(), job, &options);
                    running.spawn(
                        async move {
                            task.await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(options.poll_interval) => {}
                        () = stop.cancelled() => break,
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(kind = %options.kind, error = %e, "could not claim a job");
                    tokio::select! {
                        () = tokio::time::sleep(options.poll_interval) => {}
                        () = stop.cancelled() => break,
                    }
                }
            }
        }
        running.shutdown().await;
        match queue.release(&options.owner).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(kind = %options.kind, jobs = n, "handed running jobs back to the queue")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not hand running jobs back; their leases will lapse")
            }
        }
    })
}

fn run_one<H: Handler>(
    queue: Queue,
    handler: Arc<H>,
    job: Job,
    options: &WorkerOptions,
) -> impl Future<Output = ()> + Send + 'static {
    let (lease, max_interruptions) = (options.lease, options.max_interruptions);
    async move {
        if job.interruptions > max_interruptions {
            // Every run so far died with its process: something kills it each time.
            let error = format!(
                "The work was interrupted {} times and was not tried again.",
                job.interruptions
            );
            give_up(&queue, &*handler, &job, &error).await;
            return;
        }
        run_leased(queue, handler, job, lease).await;
    }
}

async fn run_leased<H: Handler>(queue: Queue, handler: Arc<H>, job: Job, lease: Duration) {
    let started = std::time::Instant::now();
    let work = handler.run(&job);
    tokio::pin!(work);
    let mut beat = tokio::time::interval(lease / 3);
    beat.tick().await;
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break Some(outcome),
            _ = beat.tick() => match queue.heartbeat(&job, lease).await {
                Ok(true) => {}
                // Cancelled, or taken over after a lapse: stop, and record nothing.
                Ok(false) => break None,
                Err(e) => tracing::warn!(error = %e, "could not renew a job's lease"),
            },
        }
    };
    let label = match &outcome {
        None => "stopped",
        Some(Outcome::Done) => "done",
        Some(Outcome::Retry(_)) if job.attempt < job.max_attempts => "retry",
        Some(Outcome::Retry(_) | Outcome::Fail(_)) => "failed",
    };
    let kind = job.kind.clone();
    metrics::histogram!(JOB_DURATION_METRIC, "kind" => kind.clone(), "outcome" => label)
        .record(started.elapsed().as_secs_f64());
    metrics::histogram!("assetd_job_attempts", "kind" => kind).record(f64::from(job.attempt));
    let recorded = match outcome {
        None => {
            tracing::info!("job stopped: cancelled or taken over");
            Ok(())
        }
        Some(Outcome::Done) => queue.complete(&job).await.map(drop),
        Some(Outcome::Retry(error)) if job.attempt < job.max_attempts => {
            queue.retry_later(&job, &error).await.map(|delay| {
                tracing::info!(error = %error, retry_in_ms = delay.as_millis() as u64, "job will be retried");
            })
        }
        Some(Outcome::Retry(error) | Outcome::Fail(error)) => {
            give_up(&queue, &*handler, &job, &error).await;
            Ok(())
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record a job's outcome; its lease will lapse and it will run again");
    }
}

async fn give_up<H: Handler>(queue: &Queue, handler: &H, job: &Job, error: &str) {
    tracing::warn!(error = %error, "job failed");
    handler.failed(job, error).await;
    if let Err(e) = queue.fail(job, error).await {
        tracing::error!(error = %e, "could not mark a job failed");
    }
}
