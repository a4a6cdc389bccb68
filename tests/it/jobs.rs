//! The background path: files over the sync threshold, URLs fetched by a job,
//! retries, permanent failures, deletes while processing.

use std::time::Duration;

use reqwest::multipart::Form;

use crate::common::{direct_form, fixtures, wait_until_settled, TestApp};
use crate::origin;

fn url_form(url: String) -> Form {
    Form::new().text("method", "url").text("url", url)
}

/// Fast retries so that tests of the retry path take a second, not minutes.
const QUICK_RETRIES: (&str, &str) = ("ASSETD_JOB_RETRY_MS", "100");

#[tokio::test]
async fn a_file_over_the_sync_threshold_is_probed_by_a_job_then_gets_its_steps() {
    let app = TestApp::spawn_with(&[("ASSETD_SYNC_MAX_BYTES", "1000")]).await;
    let form = direct_form(&fixtures().path("clip.mp4"))
        .text("enable_thumbnail", "true")
        .text("enable_hls", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "processing");
    assert_eq!(created["thumbnail"]["status"], "pending");
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(
        asset["size"].as_u64().unwrap(),
        std::fs::metadata(fixtures().path("clip.mp4"))
            .unwrap()
            .len()
    );
    assert!((asset["duration"].as_f64().unwrap() - 2.0).abs() < 0.1);
    assert_eq!(asset["technical_metadata"]["video_codec"], "h264");
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");
}

#[tokio::test]
async fn a_large_corrupt_file_fails_in_the_background_with_a_message() {
    let app = TestApp::spawn_with(&[("ASSETD_SYNC_MAX_BYTES", "1000")]).await;
    let form = direct_form(&fixtures().path("truncated.mp4")).text("enable_hls", "true");
    let (_, created) = app.create(form).await;
    assert_eq!(created["status"], "processing");
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "failed", "{asset}");
    assert!(!asset["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(
        asset["hls"]["status"], "error",
        "a step of a failed asset is an error: {asset}"
    );
}

#[tokio::test]
async fn a_url_of_unknown_size_is_downloaded_by_a_job() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn().await;
    let (status, created) = app
        .create(url_form(format!("{}/chunked/tone.mp3", origin.base)))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["status"], "processing",
        "no Content-Length: fetched in the background"
    );
    assert_eq!(
        created["file_type"], "audio/mpeg",
        "sniffed from the first bytes"
    );
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(asset["filename"], "tone.mp3");
    assert_eq!(
        asset["size"].as_u64().unwrap(),
        std::fs::metadata(fixtures().path("tone.mp3"))
            .unwrap()
            .len()
    );

    // Not media: refused at once from the first bytes, and nothing is kept.
    let (status, body) = app
        .create(url_form(format!("{}/chunked/notes.mp4", origin.base)))
        .await;
    crate::common::assert_error(status, &body, 400, "file_type_unsupported");
    assert_eq!(app.asset_count().await, 1);
}

#[tokio::test]
async fn a_url_that_fails_twice_then_succeeds_is_retried_until_ready() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn_with(&[QUICK_RETRIES]).await;
    let (_, created) = app
        .create(url_form(format!("{}/flaky/clip.mp4", origin.base)))
        .await;
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(
        origin.requests_to("/flaky/clip.mp4").len(),
        4,
        "one sniff, two failures, one success"
    );
}

#[tokio::test]
async fn an_interrupted_download_resumes_with_a_range_request() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn_with(&[QUICK_RETRIES]).await;
    let (_, created) = app
        .create(url_form(format!("{}/cut/clip.mp4", origin.base)))
        .await;
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    let half = std::fs::metadata(fixtures().path("clip.mp4"))
        .unwrap()
        .len()
        / 2;
    let requests = origin.requests_to("/cut/clip.mp4");
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(
        requests[2].as_deref(),
        Some(format!("bytes={half}-").as_str()),
        "{requests:?}"
    );
    // The stored file is whole and correct.
    let stored = app.asset_folders()[0].join("original");
    assert_eq!(
        std::fs::read(stored).unwrap(),
        std::fs::read(fixtures().path("clip.mp4")).unwrap()
    );
}

#[tokio::test]
async fn a_permanent_failure_is_not_retried() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn_with(&[QUICK_RETRIES]).await;
    let (_, created) = app
        .create(url_form(format!("{}/chunked/truncated.mp4", origin.base)))
        .await;
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "failed", "{asset}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        origin.requests_to("/chunked/truncated.mp4").len(),
        2,
        "one sniff and one download, no retry"
    );
}

#[tokio::test]
async fn deleting_an_asset_while_it_processes_cancels_its_jobs_and_leaves_nothing() {
    let app = TestApp::spawn_with(&[("ASSETD_SYNC_MAX_BYTES", "1000")]).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let form = direct_form(&fixtures().path("clip.mp4"))
            .text("enable_hls", "true")
            .text("enable_thumbnail", "true");
        let (_, created) = app.create(form).await;
        ids.push(created["_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let (status, _) = app.delete(&format!("/assets/{id}")).await;
        assert_eq!(status, 204);
    }
    // Whatever was running finishes or stops; nothing may come back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(app.asset_folders().is_empty(), "{:?}", app.asset_folders());
    assert_eq!(app.asset_count().await, 0);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url()).await.unwrap();
    let live: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, state FROM jobs WHERE state IN ('queued', 'running')")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(live.is_empty(), "jobs of deleted assets: {live:?}");
}
