use reqwest::multipart::Form;

use crate::common::{assert_error, fixtures, TestApp};
use crate::origin;

fn url_form(url: &str) -> Form {
    Form::new()
        .text("method", "url")
        .text("url", url.to_string())
}

#[tokio::test]
async fn a_url_upload_follows_redirects_and_names_the_asset_from_the_url() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn().await;

    let (status, body) = app
        .create(url_form(&format!("{}/files/clip.mp4", origin.base)))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["method"], "url");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["filename"], "clip.mp4");
    assert_eq!(
        body["size"].as_u64().unwrap(),
        std::fs::metadata(fixtures().path("clip.mp4"))
            .unwrap()
            .len()
    );
    assert!((body["duration"].as_f64().unwrap() - 2.0).abs() < 0.1);

    let (status, body) = app
        .create(
            url_form(&format!("{}/redirect/5/tone.mp3", origin.base)).text("filename", "named.mp3"),
        )
        .await;
    assert_eq!(status, 201, "five redirects are allowed: {body}");
    assert_eq!(body["filename"], "named.mp3");
    assert_eq!(body["file_type"], "audio/mpeg");
}

#[tokio::test]
async fn url_failures_are_json_errors_that_leave_nothing() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn_with(&[("ASSETD_MAX_UPLOAD_BYTES", "20000")]).await;
    let cases = [
        (
            format!("{}/missing", origin.base),
            400,
            "parameter_invalid",
            "404",
        ),
        (
            format!("{}/redirect/6/tone.mp3", origin.base),
            400,
            "parameter_invalid",
            "redirect",
        ),
        (
            format!("{}/loop", origin.base),
            400,
            "parameter_invalid",
            "redirect",
        ),
        (
            format!("{}/files/clip.mp4", origin.base),
            413,
            "file_too_large",
            "20000",
        ),
        (
            format!("{}/files/notes.mp4", origin.base),
            400,
            "file_type_unsupported",
            "",
        ),
        (
            "http://127.0.0.1:1/closed.mp4".to_string(),
            400,
            "parameter_invalid",
            "reached",
        ),
        ("not a url".to_string(), 400, "parameter_invalid", "url"),
        (
            "ftp://example.com/a.mp4".to_string(),
            400,
            "url_not_allowed",
            "ftp",
        ),
    ];
    for (url, want_status, want_code, mentions) in cases {
        let (status, body) = app.create(url_form(&url)).await;
        let message = assert_error(status, &body, want_status, want_code);
        assert!(message.contains(mentions), "{url}: {message}");
        app.assert_nothing_left(0).await;
    }
}

#[tokio::test]
async fn private_addresses_are_refused_by_default_at_every_hop() {
    let origin = origin::start(fixtures().dir.clone()).await;
    let app = TestApp::spawn_with(&[("ASSETD_ALLOW_PRIVATE_URLS", "false")]).await;
    let port = origin.base.rsplit(':').next().unwrap();
    for url in [
        format!("{}/files/clip.mp4", origin.base),
        format!("http://localhost:{port}/files/clip.mp4"),
        format!("http://[::1]:{port}/files/clip.mp4"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.1/a.mp4".to_string(),
    ] {
        let (status, body) = app.create(url_form(&url)).await;
        assert_error(status, &body, 400, "url_not_allowed");
        app.assert_nothing_left(0).await;
    }
}
