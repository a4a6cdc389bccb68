//! `GET /metrics`: the Prometheus text of what the server did, by route
//! template (never a raw path or id), upload method, job kind and outcome;
//! and `ASSETD_METRICS_BIND`, which moves it to an address of its own.

use reqwest::multipart::Form;
use std::collections::HashMap;
use tokio::io::AsyncWriteExt;

use crate::common::{
    asset_with_thumbnail, begin_raw_upload, fixtures, one_chunk_session, put_the_chunk, TestApp,
};
use crate::origin;

/// The samples of a scrape: `name{labels}` as written (labels in their
/// written order) -> value.
struct Scrape {
    text: String,
    samples: HashMap<String, f64>,
}

impl Scrape {
    async fn of(base: &str) -> Self {
        let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                (series.to_string(), value.parse().unwrap())
            })
            .collect();
        Self { text, samples }
    }

    /// The value of a series; 0 when the scrape does not have it.
    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    /// Whether some series of this name has all these labels (`key="value"`).
    fn has(&self, name: &str, labels: &[&str]) -> bool {
        self.samples.keys().any(|series| {
            series.starts_with(&format!("{name}{{"))
                && labels.iter().all(|label| series.contains(label))
        })
    }
}

#[tokio::test]
async fn requests_uploads_jobs_and_media_runs_are_counted_by_template() {
    let app = TestApp::spawn().await;
    let missing = "0123456789abcdef01234567";
    let (status, _) = app.get(&format!("/assets/{missing}")).await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/assets").await;
    assert_eq!(status, 200);
    let unrouted = reqwest::get(format!("{}/no/such/{missing}x", app.base))
        .await
        .unwrap();
    assert_eq!(unrouted.status(), 404);
    let id = asset_with_thumbnail(&app).await;
    let (status, _) = app.get(&format!("/assets/{id}")).await;
    assert_eq!(status, 200);

    let scrape = Scrape::of(&app.base).await;
    let route = |method: &str, route: &str, status: u16| {
        format!("assetd_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}")
    };
    assert!(
        scrape.value(&route("GET", "/v1.3/assets/{asset_id}", 404)) >= 1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value(&route("GET", "/v1.3/assets/{asset_id}", 200)) >= 1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value(&route("GET", "/v1.3/assets", 200)) >= 1.0,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value(&route("POST", "/v1.3/assets", 201)),
        1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value(&route("GET", "unmatched", 404)) >= 1.0,
        "{}",
        scrape.text
    );
    assert!(scrape.has(
        "assetd_http_request_duration_seconds_bucket",
        &["route=\"/v1.3/assets/{asset_id}\"", "le=\"0.005\""]
    ));
    // Bounded labels: no id and no raw path becomes a series.
    assert!(!scrape.text.contains(missing), "{}", scrape.text);
    assert!(!scrape.text.contains(&id), "{}", scrape.text);
    assert!(!scrape.text.contains("/no/such"), "{}", scrape.text);

    // The one upload's bytes, exactly.
    let size = std::fs::metadata(fixtures().path("frame.png"))
        .unwrap()
        .len() as f64;
    assert_eq!(
        scrape.value("assetd_upload_bytes_received_total{method=\"direct\"}"),
        size,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value("assetd_uploads_in_flight{method=\"direct\"}"),
        0.0
    );
    // The probe and the thumbnail ran in the media child; the thumbnail as a job.
    assert!(
        scrape.value("assetd_media_child_exits_total{task=\"probe\",outcome=\"ok\"}") >= 1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value("assetd_media_child_exits_total{task=\"thumbnail\",outcome=\"ok\"}") >= 1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value("assetd_job_duration_seconds_count{kind=\"thumbnail\",outcome=\"done\"}")
            >= 1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.has("assetd_job_attempts_count", &["kind=\"thumbnail\""]),
        "{}",
        scrape.text
    );
    // Jobs by kind and state, read from the queue: every known pair, 0 here.
    assert_eq!(
        scrape.value("assetd_jobs{kind=\"thumbnail\",state=\"queued\"}"),
        0.0
    );
    assert!(
        scrape.has("assetd_jobs", &["kind=\"hls\"", "state=\"failed\""]),
        "{}",
        scrape.text
    );
}

/// Each server thread keeps its own handles to the request metrics: requests
/// answered on every thread at once add up to exactly their number, each
/// under its own status.
#[tokio::test]
async fn concurrent_requests_are_each_counted_once() {
    let app = TestApp::spawn().await;
    let missing = "0123456789abcdef01234567";
    let series = |status: u16| {
        format!("assetd_http_requests_total{{method=\"GET\",route=\"/v1.3/assets/{{asset_id}}\",status=\"{status}\"}}")
    };
    let (status, asset) = app.upload(&fixtures().path("frame.png")).await;
    assert_eq!(status, 201, "{asset}");
    let id = asset["_id"].as_str().unwrap().to_string();
    let before = Scrape::of(&app.base).await;
    let requests = (0..64).map(|i| {
        let path = if i % 4 == 0 {
            format!("/assets/{id}")
        } else {
            format!("/assets/{missing}")
        };
        let app = &app;
        async move { app.get(&path).await.0 }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 48);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 16);
    let after = Scrape::of(&app.base).await;
    for (status, requests) in [(404, 48.0), (200, 16.0)] {
        let counted = after.value(&series(status)) - before.value(&series(status));
        assert_eq!(counted, requests, "{}", after.text);
    }
}

#[tokio::test]
async fn bytes_are_counted_by_upload_method() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn().await;
    let file = std::fs::read(fixtures().path("clip.mp4")).unwrap();
    let form = Form::new()
        .text("method", "url")
        .text("url", format!("{}/files/clip.mp4", origin.base));
    let (status, body) = app.create(form).await;
    assert_eq!(status, 201, "{body}");

    // One chunk of a multipart upload, PUT to its signed URL.
    let session = one_chunk_session(&app, &file).await;
    put_the_chunk(&session, &file).await;

    let scrape = Scrape::of(&app.base).await;
    let bytes = |method: &str| {
        scrape.value(&format!(
            "assetd_upload_bytes_received_total{{method=\"{method}\"}}"
        ))
    };
    assert_eq!(bytes("url"), file.len() as f64, "{}", scrape.text);
    assert_eq!(bytes("multipart"), file.len() as f64, "{}", scrape.text);
    assert_eq!(bytes("direct"), 0.0, "{}", scrape.text);
    for method in ["url", "multipart"] {
        let in_flight = format!("assetd_uploads_in_flight{{method=\"{method}\"}}");
        assert_eq!(scrape.value(&in_flight), 0.0, "{}", scrape.text);
    }
}

#[tokio::test]
async fn an_upload_counts_as_in_flight_until_it_ends() {
    let app = TestApp::spawn().await;
    let file = std::fs::read(fixtures().path("clip.mp4")).unwrap();
    let (mut stream, rest) = begin_raw_upload(&app, &file, None, 1000).await;
    let scrape = Scrape::of(&app.base).await;
    assert_eq!(
        scrape.value("assetd_uploads_in_flight{method=\"direct\"}"),
        1.0,
        "{}",
        scrape.text
    );
    // The last 1,000 bytes of the body (most of them the file's) are held back.
    let received = scrape.value("assetd_upload_bytes_received_total{method=\"direct\"}");
    assert!(received < file.len() as f64, "{}", scrape.text);

    stream.write_all(&rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 201"));
    let scrape = Scrape::of(&app.base).await;
    assert_eq!(
        scrape.value("assetd_uploads_in_flight{method=\"direct\"}"),
        0.0
    );
    assert_eq!(
        scrape.value("assetd_upload_bytes_received_total{method=\"direct\"}"),
        file.len() as f64
    );
}

#[tokio::test]
async fn refusals_and_storage_errors_are_counted() {
    let app = TestApp::spawn_with(&[
        ("ASSETD_RATE_LIMIT_PER_MINUTE", "1"),
        ("ASSETD_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let refused_form = || Form::new().text("filename", "x.mp4");
    for expected in [400, 429] {
        let response = app
            .client
            .post(app.url("/assets"))
            .header("x-api-key", &app.key)
            .multipart(refused_form())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    // Storage that cannot take a file: /readyz finds it and it is counted.
    let tmp = app.data_dir.path().join("tmp");
    let away = app.data_dir.path().join("tmp-away");
    std::fs::rename(&tmp, &away).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    let ready = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(ready.status(), 503);
    std::fs::remove_file(&tmp).unwrap();
    std::fs::rename(&away, &tmp).unwrap();

    let scrape = Scrape::of(&app.base).await;
    assert_eq!(
        scrape.value("assetd_rate_limited_total"),
        1.0,
        "{}",
        scrape.text
    );
    assert!(
        scrape.value("assetd_errors_total{source=\"storage\"}") >= 1.0,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value("assetd_errors_total{source=\"database\"}"),
        0.0
    );
}

#[tokio::test]
async fn metrics_bind_serves_the_scrape_on_its_own_address_only() {
    let app = TestApp::spawn_with(&[("ASSETD_METRICS_BIND", "127.0.0.1:0")]).await;
    let said = app.said.join("\n");
    let metrics_url = said
        .lines()
        .find_map(|line| line.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no metrics address in {said:?}"));
    let (status, _) = app.get("/assets").await;
    assert_eq!(status, 200);

    let beside_the_api = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(beside_the_api.status(), 404);
    let base = metrics_url.strip_suffix("/metrics").unwrap();
    let scrape = Scrape::of(base).await;
    assert_eq!(
        scrape.value(
            "assetd_http_requests_total{method=\"GET\",route=\"/v1.3/assets\",status=\"200\"}"
        ),
        1.0,
        "{}",
        scrape.text
    );
    // Only the scrape is there.
    let api = reqwest::get(format!("{base}/v1.3/assets")).await.unwrap();
    assert_eq!(api.status(), 404);
}
