//! Prometheus metrics (`GET /metrics`): the recorder, and every metric assetd
//! keeps, by name. The `metrics` facade records; `metrics-exporter-prometheus`
//! renders the text format. Labels are bounded: route templates, never raw
//! paths or ids; a few fixed words for methods, outcomes and sources.
//! The job queue crate records its own runs (`assetd_job_*`); the counts of
//! jobs by kind and state are read from the database at each scrape.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request latency buckets, in seconds: from a cached read to a 200 MB upload.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];
/// Job run-time buckets, in seconds: from a purge to an HLS transcode.
const JOB_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

/// The process's recorder, installed on first use (it is global: one per process).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("assetd_http_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(assetd_queue::JOB_DURATION_METRIC.into()),
                    &JOB_BUCKETS,
                )
            })
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("assetd installs its metrics recorder once");
        describe();
        handle
    })
}

/// The `# HELP` line of each metric.
fn describe() {
    describe_counter!(
        "assetd_http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "assetd_http_request_duration_seconds",
        Unit::Seconds,
        "Time to each response's head, by method, route template and status."
    );
    describe_counter!(
        "assetd_upload_bytes_received_total",
        Unit::Bytes,
        "Bytes of files received, by upload method (direct, url, multipart)."
    );
    describe_gauge!(
        "assetd_uploads_in_flight",
        "Uploads receiving bytes now, by upload method."
    );
    describe_gauge!(
        "assetd_jobs",
        "Jobs in the queue, by kind and state, counted at each scrape."
    );
    describe_histogram!(
        assetd_queue::JOB_DURATION_METRIC,
        Unit::Seconds,
        "Job run times, by kind and outcome (done, retry, failed, stopped)."
    );
    describe_histogram!(
        "assetd_job_attempts",
        "The attempt each finished job run was, by kind."
    );
    describe_counter!(
        "assetd_media_child_exits_total",
        "Runs of the media child, by task and outcome."
    );
    describe_counter!(
        "assetd_errors_total",
        "Database and storage errors that failed a request or a check, by source."
    );
    describe_counter!(
        "assetd_rate_limited_total",
        "Upload requests refused by the rate limit."
    );
}

/// Drains recorded histogram samples into their buckets now and then, so that
/// they take no memory between scrapes (the exporter leaves this to its caller).
pub fn spawn_upkeep(stop: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<()> {
    let handle = recorder().clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = every.tick() => handle.run_upkeep(),
                () = stop.cancelled() => break,
            }
        }
    })
}

/// One answered HTTP request. `route` is the route's template
/// (`/v1.3/assets/{asset_id}`), or `unmatched`.
pub fn http_request(method: &'static str, route: &str, status: u16, latency: Duration) {
    REQUEST_METRICS.with_borrow_mut(|routes| {
        // One lookup for a route already seen (every request but its first).
        if let Some(answers) = routes.get_mut(route) {
            return RequestMetrics::record(answers, method, route, status, latency);
        }
        let answers = routes.entry(route.into()).or_default();
        RequestMetrics::record(answers, method, route, status, latency);
    });
}

/// The metrics of one method, route and status.
struct RequestMetrics {
    method: &'static str,
    status: u16,
    count: Counter,
    latency: Histogram,
}

impl RequestMetrics {
    /// Counts one answer among a route's, registering its method and status
    /// the first time.
    fn record(
        answers: &mut Vec<Self>,
        method: &'static str,
        route: &str,
        status: u16,
        latency: Duration,
    ) {
        let at = match answers
            .iter()
            .position(|answer| answer.method == method && answer.status == status)
        {
            Some(at) => at,
            None => {
                answers.push(Self::register(method, route, status));
                answers.len() - 1
            }
        };
        answers[at].count.increment(1);
        answers[at].latency.record(latency.as_secs_f64());
    }

    fn register(method: &'static str, route: &str, status: u16) -> Self {
        // Registered with the recorder, never with the no-op one that stands
        // before it is installed.
        recorder();
        let labels = [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        Self {
            method,
            status,
            count: counter!("assetd_http_requests_total", &labels),
            latency: histogram!("assetd_http_request_duration_seconds", &labels),
        }
    }
}

thread_local! {
    /// Each thread's handles to the request metrics, by route template:
    /// registering a labelled metric allocates and hashes its labels and
    /// looks it up in the recorder's shared map, 1.2% of a cached read's
    /// instructions (`scripts/bench-read-instructions`), and a shared lock
    /// per request. As bounded as the labels.
    static REQUEST_METRICS: RefCell<HashMap<Box<str>, Vec<RequestMetrics>>> =
        RefCell::new(HashMap::new());
}

/// How a file arrives: the label of the upload metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMethod {
    Direct,
    Url,
    Multipart,
}

impl UploadMethod {
    fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Url => "url",
            Self::Multipart => "multipart",
        }
    }

    /// Bytes received of a file.
    pub fn received(self, bytes: usize) {
        counter!("assetd_upload_bytes_received_total", "method" => self.label())
            .increment(bytes as u64);
    }
}

/// An upload in flight, counted while this lives.
pub struct UploadInFlight(UploadMethod);

impl UploadInFlight {
    pub fn start(method: UploadMethod) -> Self {
        gauge!("assetd_uploads_in_flight", "method" => method.label()).increment(1.0);
        Self(method)
    }
}

impl Drop for UploadInFlight {
    fn drop(&mut self) {
        gauge!("assetd_uploads_in_flight", "method" => self.0.label()).decrement(1.0);
    }
}

/// How a run of the media child (`assetd-media`) ended.
pub fn media_child_exit(task: &'static str, outcome: &'static str) {
    counter!("assetd_media_child_exits_total", "task" => task, "outcome" => outcome).increment(1);
}

/// Where an internal error came from.
#[derive(Debug, Clone, Copy)]
pub enum ErrorSource {
    Database,
    Storage,
}

/// A database or storage error that failed a request or a check.
pub fn error(source: ErrorSource) {
    let source = match source {
        ErrorSource::Database => "database",
        ErrorSource::Storage => "storage",
    };
    counter!("assetd_errors_total", "source" => source).increment(1);
}

/// A request refused by the upload rate limit.
pub fn rate_limited() {
    counter!("assetd_rate_limited_total").increment(1);
}

/// The jobs in the queue by kind and state, as the database counts them now.
/// Every one of `kinds` in every state is set, to 0 when there are none, so
/// that a series falls back to 0 instead of keeping its last value.
pub fn set_jobs(kinds: &[&'static str], counts: &[(String, String, i64)]) {
    const STATES: [&str; 4] = ["queued", "running", "failed", "cancelled"];
    for &kind in kinds {
        for state in STATES {
            let n = counts
                .iter()
                .find(|(k, s, _)| k == kind && s == state)
                .map_or(0, |(_, _, n)| *n);
            gauge!("assetd_jobs", "kind" => kind, "state" => state).set(n as f64);
        }
    }
}
