//! The queue against a real SQLite file, or, when `ASSETD_TEST_POSTGRES_URL`
//! names a PostgreSQL server (the README's test command starts one), against
//! a fresh database on it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use assetd_queue::{
    spawn_workers, Handler, Job, JobState, NewJob, Outcome, Queue, RetryPolicy, WorkerOptions,
};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::MigrateDatabase;
use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;

struct Db {
    pool: AnyPool,
    _dir: tempfile::TempDir,
}

async fn db() -> Db {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("ASSETD_TEST_POSTGRES_URL") {
        Ok(server) => {
            static SEQ: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "queue_{}_{}_{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            sqlx::Any::create_database(&url).await.unwrap();
            url
        }
        Err(_) => format!("sqlite://{}?mode=rwc", dir.path().join("q.db").display()),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                if conn.backend_name() == "SQLite" {
                    sqlx::Executor::execute(
                        &mut *conn,
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    assetd_queue::migrate(&pool).await.unwrap();
    // Migrating twice is a no-op.
    assetd_queue::migrate(&pool).await.unwrap();
    Db { pool, _dir: dir }
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(80),
    }
}

fn job(kind: &str, resource: &str, max_attempts: u32) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: format!("{{\"for\":\"{resource}\"}}"),
        resource: Some(resource.into()),
        max_attempts,
        delay: Duration::ZERO,
    }
}

async fn add(queue: &Queue, pool: &AnyPool, new: NewJob) -> i64 {
    let mut conn = pool.acquire().await.unwrap();
    queue.enqueue(&mut conn, &new).await.unwrap()
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_claimed_job_is_invisible_until_done_and_then_gone() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    let id = add(&queue, &db.pool, job("probe", "a1", 3)).await;
    let claimed = queue.claim("probe", "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(
        (claimed.id, claimed.attempt, claimed.payload.as_str()),
        (id, 1, "{\"for\":\"a1\"}")
    );
    assert!(
        queue.claim("probe", "w2", LEASE).await.unwrap().is_none(),
        "held under a lease"
    );
    assert!(queue
        .claim("other-kind", "w2", LEASE)
        .await
        .unwrap()
        .is_none());
    assert!(queue.complete(&claimed).await.unwrap());
    assert!(queue.jobs_for("a1").await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_claimers_never_take_the_same_job() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    for i in 0..60 {
        add(&queue, &db.pool, job("hls", &format!("r{i}"), 1)).await;
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = queue.claim("hls", &format!("w{w}"), LEASE).await.unwrap() {
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 60, "every job claimed once");
    assert_eq!(unique.len(), 60, "no job claimed twice");
}

#[tokio::test]
async fn a_lapsed_lease_lets_another_worker_take_the_job_and_the_first_loses_it() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    add(&queue, &db.pool, job("probe", "a2", 3)).await;
    let first = queue
        .claim("probe", "dead-worker", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let second = queue
        .claim("probe", "live-worker", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.id, second.attempt, second.interruptions),
        (first.id, 1, 1),
        "an interruption, not a used-up attempt"
    );
    assert!(
        !queue.heartbeat(&first, LEASE).await.unwrap(),
        "the old owner's lease is gone"
    );
    assert!(
        !queue.complete(&first).await.unwrap(),
        "nor can it record an outcome"
    );
    assert!(queue.heartbeat(&second, LEASE).await.unwrap());
    assert!(queue.complete(&second).await.unwrap());
}

#[tokio::test]
async fn a_retried_job_waits_for_its_backoff() {
    let db = db().await;
    let queue = Queue::new(
        db.pool.clone(),
        RetryPolicy {
            min_delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(1),
        },
    );
    add(&queue, &db.pool, job("fetch", "a3", 3)).await;
    let claimed = queue.claim("fetch", "w", LEASE).await.unwrap().unwrap();
    let delay = queue
        .retry_later(&claimed, "origin said 503")
        .await
        .unwrap();
    assert!(
        delay >= Duration::from_millis(300) && delay <= Duration::from_secs(1),
        "{delay:?}"
    );
    assert!(
        queue.claim("fetch", "w", LEASE).await.unwrap().is_none(),
        "not before the backoff"
    );
    tokio::time::sleep(delay + Duration::from_millis(20)).await;
    let again = queue.claim("fetch", "w", LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempt, 2);
    let states = queue.jobs_for("a3").await.unwrap();
    assert_eq!(states[0].last_error.as_deref(), Some("origin said 503"));
}

#[test]
fn backoff_grows_and_is_capped() {
    let policy = RetryPolicy {
        min_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
    };
    // Jitter adds up to one more delay: bounds, not exact values.
    assert!(policy.delay(1) >= Duration::from_secs(1) && policy.delay(1) <= Duration::from_secs(2));
    assert!(policy.delay(4) >= Duration::from_secs(8));
    assert!(policy.delay(40) <= Duration::from_secs(60));
}

/// Counts attempts; answers with `outcome` until attempt `succeed_on`.
struct Flaky {
    runs: AtomicU32,
    failed_calls: AtomicU32,
    succeed_on: u32,
    outcome: Outcome,
}

impl Handler for Flaky {
    async fn run(&self, job: &Job) -> Outcome {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if job.attempt >= self.succeed_on {
            Outcome::Done
        } else {
            self.outcome.clone()
        }
    }

    async fn failed(&self, _job: &Job, _error: &str) {
        self.failed_calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn options(kind: &str, lease: Duration) -> WorkerOptions {
    WorkerOptions {
        kind: kind.into(),
        concurrency: 2,
        lease,
        poll_interval: Duration::from_millis(20),
        owner: format!("test-{kind}"),
        max_interruptions: 20,
    }
}

async fn wait_until<F: Fn() -> bool>(what: &str, done: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The resource's jobs once none is running: a worker tells its handler that
/// a job failed before it records the failure, so a test that saw the call
/// may still find the job running for a moment.
async fn settled_jobs(queue: &Queue, resource: &str) -> Vec<JobState> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = queue.jobs_for(resource).await.unwrap();
        if jobs.iter().all(|job| job.state != "running") {
            return jobs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running: {resource}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    let handler = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: 3,
        outcome: Outcome::Retry("busy".into()),
    });
    add(&queue, &db.pool, job("t", "a4", 5)).await;
    let stop = CancellationToken::new();
    spawn_workers(
        queue.clone(),
        options("t", LEASE),
        handler.clone(),
        stop.clone(),
    );
    queue.wake();
    let q = queue.clone();
    wait_until("the job to complete", || {
        handler.runs.load(Ordering::SeqCst) == 3
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !q.jobs_for("a4").await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handler.failed_calls.load(Ordering::SeqCst), 0);
    stop.cancel();
}

#[tokio::test]
async fn retries_stop_at_the_cap_and_permanent_failures_are_not_retried() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    let always_busy = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: u32::MAX,
        outcome: Outcome::Retry("busy".into()),
    });
    let corrupt = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: u32::MAX,
        outcome: Outcome::Fail("corrupt".into()),
    });
    add(&queue, &db.pool, job("busy", "a5", 3)).await;
    add(&queue, &db.pool, job("corrupt", "a6", 3)).await;
    let stop = CancellationToken::new();
    spawn_workers(
        queue.clone(),
        options("busy", LEASE),
        always_busy.clone(),
        stop.clone(),
    );
    spawn_workers(
        queue.clone(),
        options("corrupt", LEASE),
        corrupt.clone(),
        stop.clone(),
    );
    wait_until("both to give up", || {
        always_busy.failed_calls.load(Ordering::SeqCst) == 1
            && corrupt.failed_calls.load(Ordering::SeqCst) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        always_busy.runs.load(Ordering::SeqCst),
        3,
        "three attempts, no more"
    );
    assert_eq!(
        corrupt.runs.load(Ordering::SeqCst),
        1,
        "a permanent failure is not retried"
    );
    let busy = &settled_jobs(&queue, "a5").await[0];
    assert_eq!(
        (
            busy.state.as_str(),
            busy.attempts,
            busy.last_error.as_deref()
        ),
        ("failed", 3, Some("busy"))
    );
    assert_eq!(
        settled_jobs(&queue, "a6").await[0].state,
        "failed",
        "failed jobs are kept, not deleted"
    );
    stop.cancel();
}

/// Never finishes: stands for a worker that died or hung.
struct Hang {
    started: AtomicU32,
}

impl Handler for Hang {
    async fn run(&self, _job: &Job) -> Outcome {
        self.started.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }

    async fn failed(&self, _job: &Job, _error: &str) {}
}

#[tokio::test]
async fn a_job_whose_worker_died_is_finished_by_another_after_the_lease() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    add(&queue, &db.pool, job("k", "a7", 3)).await;
    let hang = Arc::new(Hang {
        started: AtomicU32::new(0),
    });
    let dead = spawn_workers(
        queue.clone(),
        options("k", Duration::from_millis(150)),
        hang.clone(),
        CancellationToken::new(),
    );
    wait_until("the first worker to start", || {
        hang.started.load(Ordering::SeqCst) == 1
    })
    .await;
    // The worker "dies": its tasks stop and no heartbeat is sent any more.
    dead.abort();
    let _ = dead.await;
    // A fresh runtime's worst case is the same: only the lease brings the job back.
    let survivor = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: 1,
        outcome: Outcome::Done,
    });
    let mut options = options("k", LEASE);
    options.owner = "survivor".into();
    let stop = CancellationToken::new();
    spawn_workers(queue.clone(), options, survivor.clone(), stop.clone());
    wait_until("the survivor to run it", || {
        survivor.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();
}

#[tokio::test]
async fn cancelling_a_resource_stops_its_running_job_and_drops_queued_ones() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    add(&queue, &db.pool, job("k", "gone", 3)).await;
    add(&queue, &db.pool, job("other", "gone", 3)).await;
    let hang = Arc::new(Hang {
        started: AtomicU32::new(0),
    });
    let stop = CancellationToken::new();
    spawn_workers(
        queue.clone(),
        options("k", Duration::from_millis(90)),
        hang.clone(),
        stop.clone(),
    );
    wait_until("the job to start", || {
        hang.started.load(Ordering::SeqCst) == 1
    })
    .await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(queue.cancel_resource(&mut conn, "gone").await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let states: Vec<String> = queue
        .jobs_for("gone")
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.state)
        .collect();
    assert_eq!(states, ["cancelled", "cancelled"]);
    assert!(queue.claim("other", "w", LEASE).await.unwrap().is_none());
    assert_eq!(
        hang.started.load(Ordering::SeqCst),
        1,
        "a cancelled job is not run again"
    );
    stop.cancel();
}

#[tokio::test]
async fn release_hands_running_jobs_back_without_counting_the_attempt() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    add(&queue, &db.pool, job("k", "a8", 1)).await;
    let claimed = queue.claim("k", "stopping", LEASE).await.unwrap().unwrap();
    assert_eq!(queue.release("stopping").await.unwrap(), 1);
    let again = queue.claim("k", "next", LEASE).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempt), (claimed.id, 1));
}

#[tokio::test]
async fn stopping_workers_hands_their_running_jobs_back_at_once() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    add(&queue, &db.pool, job("k", "a9", 1)).await;
    let hang = Arc::new(Hang {
        started: AtomicU32::new(0),
    });
    let stop = CancellationToken::new();
    let workers = spawn_workers(
        queue.clone(),
        options("k", LEASE),
        hang.clone(),
        stop.clone(),
    );
    wait_until("the job to start", || {
        hang.started.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();
    workers.await.unwrap();
    // Claimable at once (not after the 30 s lease), and the attempt was not spent.
    let again = queue.claim("k", "next", LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempt, 1);
}

#[tokio::test]
async fn interruptions_are_counted_apart_from_attempts_and_capped() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    add(&queue, &db.pool, job("k", "i1", 1)).await;
    // Five processes die in turn while holding the job (one attempt allowed).
    for n in 0..5u32 {
        let claimed = queue
            .claim("k", &format!("dead-{n}"), Duration::from_millis(1))
            .await
            .unwrap()
            .expect("claimable again after the lease");
        assert_eq!((claimed.attempt, claimed.interruptions), (1, n));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The next worker still runs it: five interruptions are under its cap.
    let flaky = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: 1,
        outcome: Outcome::Done,
    });
    let stop = CancellationToken::new();
    let mut capped = options("k", LEASE);
    capped.max_interruptions = 5;
    spawn_workers(queue.clone(), capped, flaky.clone(), stop.clone());
    wait_until("the job to run to its end", || {
        flaky.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();

    // Past the cap, the job is failed without running.
    add(&queue, &db.pool, job("k2", "i2", 3)).await;
    for n in 0..3 {
        queue
            .claim("k2", &format!("dead-{n}"), Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let never = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: 1,
        outcome: Outcome::Done,
    });
    let stop = CancellationToken::new();
    let mut capped = options("k2", LEASE);
    capped.max_interruptions = 1;
    spawn_workers(queue.clone(), capped, never.clone(), stop.clone());
    wait_until("the job to be given up", || {
        never.failed_calls.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();
    assert_eq!(never.runs.load(Ordering::SeqCst), 0);
    let state = &settled_jobs(&queue, "i2").await[0];
    assert_eq!(
        (state.state.as_str(), state.attempts, state.interruptions),
        ("failed", 1, 3)
    );
    assert!(state
        .last_error
        .as_deref()
        .unwrap()
        .contains("interrupted 3 times"));
}

#[tokio::test]
async fn failed_jobs_can_be_queued_again_by_resource_or_all() {
    let db = db().await;
    let queue = Queue::new(db.pool.clone(), quick_retries());
    for resource in ["r1", "r1", "r2", "r3"] {
        add(&queue, &db.pool, job("f", resource, 1)).await;
    }
    for _ in 0..3 {
        let claimed = queue.claim("f", "w", LEASE).await.unwrap().unwrap();
        assert!(queue.fail(&claimed, "broken").await.unwrap());
    }
    // r3's job is still queued: only failed jobs are touched.
    let mut conn = db.pool.acquire().await.unwrap();
    let again = queue.retry_failed(&mut conn, Some("r1")).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again
        .iter()
        .all(|j| j.state == "queued" && j.attempts == 0 && j.last_error.is_none()));
    assert_eq!(queue.jobs_for("r2").await.unwrap()[0].state, "failed");
    let rest = queue.retry_failed(&mut conn, None).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].resource.as_deref(), Some("r2"));
    assert!(queue
        .retry_failed(&mut conn, None)
        .await
        .unwrap()
        .is_empty());
    drop(conn);
    let claimed = queue.claim("f", "w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.attempt, 1, "fresh attempts");
}

#[tokio::test]
async fn on_postgresql_a_job_queued_by_one_node_wakes_idle_workers_on_another() {
    let db = db().await;
    let (node_a, node_b) = (
        Queue::new(db.pool.clone(), quick_retries()),
        Queue::new(db.pool.clone(), quick_retries()),
    );
    let stop = CancellationToken::new();
    let Some(listener) = node_b.listen(stop.clone()) else {
        println!("skipped: SQLite runs one process, so there is no other node to wake");
        return;
    };
    let handler = Arc::new(Flaky {
        runs: AtomicU32::new(0),
        failed_calls: AtomicU32::new(0),
        succeed_on: 1,
        outcome: Outcome::Done,
    });
    // An idle worker that would not look again for a minute on its own.
    let mut slow_poll = options("woken", LEASE);
    slow_poll.poll_interval = Duration::from_secs(60);
    spawn_workers(node_b.clone(), slow_poll, handler.clone(), stop.clone());
    // Let the worker find the queue empty and the listener subscribe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    add(&node_a, &db.pool, job("woken", "n1", 1)).await;
    wait_until("node B's worker to run node A's job", || {
        handler.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();
    listener.await.unwrap();
}
