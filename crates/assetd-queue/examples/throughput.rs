//! Jobs per second through the queue with no-op work, on a real SQLite file
//! (WAL, as the server uses it). Run: `cargo run --release -p assetd-queue
//! --example throughput -- [JOBS] [WORKERS]`. See the README's benchmarks.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assetd_queue::{
    spawn_workers, Handler, Job, NewJob, Outcome, Queue, RetryPolicy, WorkerOptions,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio_util::sync::CancellationToken;

struct NoOp {
    done: AtomicU64,
}

impl Handler for NoOp {
    async fn run(&self, _job: &Job) -> Outcome {
        self.done.fetch_add(1, Ordering::Relaxed);
        Outcome::Done
    }

    async fn failed(&self, _job: &Job, _error: &str) {}
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(dir.path().join("bench.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    assetd_queue::migrate(&pool).await.unwrap();
    let queue = Queue::new(pool.clone(), RetryPolicy::default());

    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..jobs {
        let job = NewJob {
            kind: "noop".into(),
            payload: format!("{{\"n\":{i}}}"),
            resource: Some(format!("r{i}")),
            max_attempts: 3,
            delay: Duration::ZERO,
        };
        queue.enqueue(&mut tx, &job).await.unwrap();
    }
    tx.commit().await.unwrap();
    let enqueued = started.elapsed();

    let handler = Arc::new(NoOp {
        done: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let options = WorkerOptions {
        kind: "noop".into(),
        concurrency: workers,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        owner: "bench".into(),
        max_interruptions: 20,
    };
    let started = Instant::now();
    let runner = spawn_workers(queue.clone(), options, handler.clone(), stop.clone());
    queue.wake();
    while handler.done.load(Ordering::Relaxed) < jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Done means recorded too: wait until the last rows are gone.
    loop {
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ran = started.elapsed();
    stop.cancel();
    runner.await.unwrap();
    println!(
        "enqueue: {jobs} jobs in one transaction: {:.3} s ({:.0} jobs/s)",
        enqueued.as_secs_f64(),
        jobs as f64 / enqueued.as_secs_f64()
    );
    println!(
        "claim + run + complete, {workers} workers: {:.3} s ({:.0} jobs/s)",
        ran.as_secs_f64(),
        jobs as f64 / ran.as_secs_f64()
    );
}
