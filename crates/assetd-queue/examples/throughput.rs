//! Jobs per second through the queue with no-op work, on a real SQLite file
//! (WAL, as the server uses it), or on PostgreSQL when `DATABASE_URL` names a
//! database. Run: `cargo run --release -p assetd-queue --example throughput --
//! [JOBS] [WORKERS] [NODES]`: WORKERS in all, spread over NODES queues with a
//! pool each (nodes of one cluster, woken by PostgreSQL's notifications).
//! See the README's benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assetd_queue::{
    spawn_workers, Handler, Job, NewJob, Outcome, Queue, RetryPolicy, WorkerOptions,
};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::MigrateDatabase;
use sqlx::AnyPool;
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
    let nodes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    sqlx::any::install_default_drivers();
    if !sqlx::Any::database_exists(&url).await.unwrap() {
        sqlx::Any::create_database(&url).await.unwrap();
    }
    let mut pools = Vec::new();
    for _ in 0..nodes {
        pools.push(open(&url).await);
    }
    let pool = pools[0].clone();
    assetd_queue::migrate(&pool).await.unwrap();
    sqlx::query("DELETE FROM jobs")
        .execute(&pool)
        .await
        .unwrap();
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
    let started = Instant::now();
    let mut runners = Vec::new();
    for (n, node_pool) in pools.iter().enumerate() {
        let node = Queue::new(node_pool.clone(), RetryPolicy::default());
        node.listen(stop.clone());
        let options = WorkerOptions {
            kind: "noop".into(),
            concurrency: (workers / nodes).max(1),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(50),
            owner: format!("bench-{n}"),
            max_interruptions: 20,
        };
        runners.push(spawn_workers(
            node.clone(),
            options,
            handler.clone(),
            stop.clone(),
        ));
        node.wake();
    }
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
    for runner in runners {
        runner.await.unwrap();
    }
    println!(
        "enqueue: {jobs} jobs in one transaction: {:.3} s ({:.0} jobs/s)",
        enqueued.as_secs_f64(),
        jobs as f64 / enqueued.as_secs_f64()
    );
    println!(
        "claim + run + complete, {workers} workers on {nodes} node(s): {:.3} s ({:.0} jobs/s)",
        ran.as_secs_f64(),
        jobs as f64 / ran.as_secs_f64()
    );
}

async fn open(url: &str) -> AnyPool {
    AnyPoolOptions::new()
        .max_connections(16)
        .after_connect(|conn, _| {
            Box::pin(async move {
                if conn.backend_name() == "SQLite" {
                    sqlx::Executor::execute(
                        &mut *conn,
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .unwrap()
}
