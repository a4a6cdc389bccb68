//! Every bad input gets its documented status and JSON error, and leaves no
//! temporary file, no row and no folder behind.

use reqwest::multipart::{Form, Part};

use crate::common::{assert_error, direct_form, file_part, fixtures, TestApp};

#[tokio::test]
async fn bad_create_requests_are_refused_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let mp4 = fixtures().path("clip.mp4");
    let cases: Vec<(&str, Form, u16, &str, &str)> = vec![
        (
            "missing method",
            Form::new().part("file", file_part(&mp4)),
            400,
            "parameter_not_provided",
            "method",
        ),
        (
            "direct without file",
            Form::new().text("method", "direct"),
            400,
            "parameter_not_provided",
            "file",
        ),
        (
            "url without url",
            Form::new().text("method", "url"),
            400,
            "parameter_not_provided",
            "url",
        ),
        (
            "unknown method",
            direct_form(&mp4).text("method", "carrier-pigeon"),
            400,
            "parameter_unknown",
            "method",
        ),
        (
            "empty file",
            direct_form(&fixtures().path("empty.mp4")),
            400,
            "parameter_invalid",
            "file",
        ),
        (
            "text named .mp4",
            direct_form(&fixtures().path("notes.mp4")),
            400,
            "file_type_unsupported",
            "",
        ),
        (
            "300-character filename",
            direct_form(&mp4).text("filename", "a".repeat(296) + ".mp4"),
            400,
            "parameter_invalid",
            "filename",
        ),
        (
            "filename with ../",
            direct_form(&mp4).text("filename", "../../etc/passwd.mp4"),
            400,
            "parameter_invalid",
            "filename",
        ),
        (
            "bad boolean",
            direct_form(&mp4).text("enable_hls", "maybe"),
            400,
            "parameter_invalid",
            "enable_hls",
        ),
        (
            "nested user_metadata",
            direct_form(&mp4).text("user_metadata", r#"{"a":{"b":1}}"#),
            400,
            "parameter_invalid",
            "user_metadata",
        ),
        (
            "two files",
            direct_form(&mp4).part("file", file_part(&mp4)),
            400,
            "parameter_invalid",
            "file",
        ),
    ];
    for (what, form, want_status, want_code, names) in cases {
        let (status, body) = app.create(form).await;
        let message = assert_error(status, &body, want_status, want_code);
        assert!(
            message.contains(names),
            "{what}: the message should name '{names}': {message}"
        );
        app.assert_nothing_left(0).await;
    }
}

#[tokio::test]
async fn a_non_multipart_body_is_a_json_error() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/assets"))
        .header("x-api-key", &app.key)
        .json(&serde_json::json!({"method": "direct"}))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::common::json_of(response).await;
    assert_error(status, &body, 400, "parameter_invalid");
}

#[tokio::test]
async fn keys_are_checked_before_anything_else() {
    let app = TestApp::spawn().await;
    for key in [None, Some(""), Some("tlk_wrong")] {
        let mut request = app.client.get(app.url("/assets"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let (status, body) = crate::common::json_of(request.send().await.unwrap()).await;
        assert_error(status, &body, 401, "api_key_invalid");
    }
    let (status, body) = app
        .create_as("tlk_wrong", direct_form(&fixtures().path("tone.mp3")))
        .await;
    assert_error(status, &body, 401, "api_key_invalid");
    app.assert_nothing_left(0).await;
}

#[tokio::test]
async fn an_upload_over_the_limit_is_cut_off_with_413() {
    let app = TestApp::spawn_with(&[("ASSETD_MAX_UPLOAD_BYTES", "100000")]).await;
    let big = vec![7u8; 300_000];
    let form = Form::new()
        .text("method", "direct")
        .part("file", Part::bytes(big).file_name("big.mp4"));
    let (status, body) = app.create(form).await;
    let message = assert_error(status, &body, 413, "file_too_large");
    assert!(message.contains("100000"), "{message}");
    app.assert_nothing_left(0).await;

    // Under the limit still works on the same server.
    let (status, body) = app.upload(&fixtures().path("frame.png")).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn an_upload_cut_off_mid_body_leaves_nothing() {
    let app = TestApp::spawn().await;
    let mut file = std::fs::read(fixtures().path("clip.mp4")).unwrap();
    file.extend(vec![0u8; 500_000]);
    let (stream, _) = crate::common::begin_raw_upload(&app, &file, Some(10_000_000), 1000).await;
    drop(stream);
    app.assert_nothing_left(0).await;
}

#[tokio::test]
async fn undecodable_path_segments_are_json_errors_on_every_route() {
    let app = TestApp::spawn().await;
    let idx = "0193a1b2c3d4e5f60718293a4b5c6d7e";
    for path in [
        "/v1.3/assets/%FF".to_string(),
        "/v1.3/assets/%FF/indexed-assets".to_string(),
        "/v1.3/indexes/%FF".to_string(),
        format!("/v1.3/indexes/{idx}/indexed-assets/%C3%28"),
        "/media/%FF/1/2/thumb.jpg".to_string(),
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .header("x-api-key", &app.key)
            .send()
            .await
            .unwrap();
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(content_type, "application/json", "{path}");
        let (status, body) = crate::common::json_of(response).await;
        let message = assert_error(status, &body, 400, "parameter_invalid");
        assert!(message.contains("path"), "{path}: {message}");
    }
    let response = app
        .client
        .delete(app.url("/assets/%FF"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    let (status, body) = crate::common::json_of(response).await;
    assert_error(status, &body, 400, "parameter_invalid");
}

/// Control characters (a NUL above all, which PostgreSQL cannot store in text)
/// are refused at the edge: a 404 in a path, which no id can match, and a 400
/// naming the parameter in a filter or a name. None reaches the database, so
/// none is a 500 on either engine (schemathesis found the first).
#[tokio::test]
async fn control_characters_are_refused_before_the_database() {
    let app = TestApp::spawn().await;
    for path in [
        "/webhooks/wh_%00",
        "/assets/multipart-uploads/ab%00cd",
        "/assets/multipart-uploads/%00/presigned-urls",
    ] {
        let (status, body) = app.get(path).await;
        assert_error(status, &body, 404, "resource_not_exist");
    }
    let index = "0193a1b2c3d4e5f60718293a4b5c6d7e";
    for (path, name) in [
        ("/assets?filename=ab%00cd".to_string(), "filename"),
        ("/assets?filename=%01".to_string(), "filename"),
        (
            format!("/indexes/{index}/indexed-assets?filename=a%00"),
            "filename",
        ),
        ("/indexes?index_name=x%00y".to_string(), "index_name"),
    ] {
        let (status, body) = app.get(&path).await;
        let message = assert_error(status, &body, 400, "parameter_invalid");
        assert!(message.contains(name), "{path}: {message}");
    }
    let (status, body) = app
        .send_json(
            reqwest::Method::POST,
            "/indexes",
            serde_json::json!({"index_name": "a\u{0}b", "models": [{"model_name": "marengo2.7"}]}),
        )
        .await;
    let message = assert_error(status, &body, 400, "parameter_invalid");
    assert!(message.contains("index_name"), "{message}");
    let (status, body) = app.get("/indexes").await;
    assert_eq!(status, 200);
    assert_eq!(body["page_info"]["total_results"], 0, "{body}");
}
