use reqwest::multipart::{Form, Part};
use sha2::{Digest, Sha256};

use crate::common::{direct_form, file_part, fixtures, TestApp};

#[tokio::test]
async fn direct_upload_of_each_kind_is_ready_with_size_duration_and_type() {
    let app = TestApp::spawn().await;
    let cases = [
        ("clip.mp4", "video/mp4", "video", true),
        ("clip.webm", "video/webm", "video", true),
        ("tone.mp3", "audio/mpeg", "audio", true),
        ("tone.wav", "audio/", "audio", true),
        ("frame.png", "image/png", "image", false),
        ("frame.jpg", "image/jpeg", "image", false),
    ];
    for (name, mime, kind, timed) in cases {
        let path = fixtures().path(name);
        let (status, body) = app.upload(&path).await;
        assert_eq!(status, 201, "{name}: {body}");
        assert_eq!(body["status"], "ready", "{name}: {body}");
        assert_eq!(body["method"], "direct");
        assert_eq!(body["filename"], name);
        assert!(
            body["file_type"].as_str().unwrap().starts_with(mime),
            "{name}: {body}"
        );
        assert_eq!(
            body["size"].as_u64().unwrap(),
            std::fs::metadata(&path).unwrap().len()
        );
        if timed {
            let duration = body["duration"]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} has no duration: {body}"));
            assert!((duration - 2.0).abs() < 0.1, "{name}: duration {duration}");
        } else {
            assert!(
                body.get("duration").is_none(),
                "{name}: an image has no duration: {body}"
            );
        }
        assert!(
            body.get("error").is_none()
                && body.get("hls").is_none()
                && body.get("thumbnail").is_none()
        );
        let id = body["_id"].as_str().unwrap();
        let (status, listed) = app
            .get(&format!("/assets?asset_types={kind}&asset_ids={id}"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            listed["data"][0]["_id"], id,
            "{name} must be listed as {kind}"
        );

        // The stored file is the uploaded file, byte for byte.
        let stored = crate::common::asset_folder(app.data_dir.path(), id).join("original");
        assert_eq!(
            Sha256::digest(std::fs::read(&stored).unwrap()),
            Sha256::digest(std::fs::read(&path).unwrap())
        );
    }
    assert!(app.tmp_files().is_empty());
}

/// Every connection of the server's pool first stores an asset without a
/// duration, then one with: a database that fixed the type of the duration
/// argument on first use (PostgreSQL's prepared statements) would refuse the
/// second.
#[tokio::test]
async fn assets_without_and_then_with_a_duration_are_both_stored() {
    let app = TestApp::spawn().await;
    for name in ["frame.png", "tone.wav"] {
        for _ in 0..10 {
            let (status, body) = app.upload(&fixtures().path(name)).await;
            assert_eq!(status, 201, "{body}");
            assert_eq!(body["status"], "ready", "{body}");
            assert_eq!(
                body["duration"].is_number(),
                name == "tone.wav",
                "an image has no duration, a sound has one: {body}"
            );
        }
    }
}

#[tokio::test]
async fn detail_carries_technical_metadata_and_created_at() {
    let app = TestApp::spawn().await;
    let (_, body) = app.upload(&fixtures().path("clip.mp4")).await;
    let (status, detail) = app
        .get(&format!("/assets/{}", body["_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail, body, "retrieve returns what create returned");
    let tm = &detail["technical_metadata"];
    assert_eq!(tm["video_codec"], "h264");
    assert_eq!(tm["video_width"], 320);
    assert_eq!(tm["video_height"], 240);
    assert_eq!(tm["audio_codec"], "aac");
    assert_eq!(tm["has_audio"], true);
    assert_eq!(tm["file_size_bytes"], detail["size"]);
    assert_eq!(
        tm["storage_aspect_ratio"], 1.3333,
        "a number, as the SDK types it"
    );
    let created = detail["created_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{created}"
    );
    assert!(created.ends_with('Z'));
}

#[tokio::test]
async fn fields_may_come_in_any_order_and_an_explicit_filename_wins() {
    let app = TestApp::spawn().await;
    // The JS SDK's order: method, file, then the other fields after the file.
    let form = Form::new()
        .text("method", "direct")
        .part("file", file_part(&fixtures().path("tone.mp3")))
        .text("filename", "renamed.mp3")
        .text("enable_hls", "false")
        .text("enable_thumbnail", "true")
        .text(
            "user_metadata",
            r#"{"team":"audio","take":3,"tags":["a","b"]}"#,
        );
    let (status, body) = app.create(form).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["filename"], "renamed.mp3");
    assert_eq!(body["user_metadata"]["take"], 3);
    assert_eq!(body["user_metadata"]["tags"][1], "b");
    assert_eq!(body["thumbnail"]["status"], "pending");
    assert!(body.get("hls").is_none());

    // File first of all, method last.
    let form = Form::new()
        .part("file", file_part(&fixtures().path("frame.png")))
        .text("method", "direct");
    let (status, body) = app.create(form).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["filename"], "frame.png");
}

#[tokio::test]
async fn hls_is_not_offered_for_images() {
    let app = TestApp::spawn().await;
    let form = direct_form(&fixtures().path("frame.jpg")).text("enable_hls", "true");
    let (_, body) = app.create(form).await;
    assert!(body.get("hls").is_none(), "{body}");
    let form = direct_form(&fixtures().path("clip.mp4")).text("enable_hls", "True");
    let (_, body) = app.create(form).await;
    assert_eq!(body["hls"]["status"], "pending", "{body}");
}

#[tokio::test]
async fn a_chunked_upload_without_content_length_is_accepted() {
    let app = TestApp::spawn().await;
    let bytes = std::fs::read(fixtures().path("clip.mp4")).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(7000).map(|c| Ok(c.to_vec())).collect();
    let stream = futures_util::stream::iter(chunks);
    let part = Part::stream(reqwest::Body::wrap_stream(stream)).file_name("streamed.mp4");
    let (status, body) = app
        .create(Form::new().text("method", "direct").part("file", part))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["size"].as_u64().unwrap(), bytes.len() as u64);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn a_file_over_the_sync_threshold_is_stored_and_listed_as_processing() {
    let app = TestApp::spawn_with(&[("ASSETD_SYNC_MAX_BYTES", "1000")]).await;
    let (status, body) = app.upload(&fixtures().path("clip.mp4")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "processing");
    assert!(
        body.get("size").is_none() && body.get("duration").is_none(),
        "{body}"
    );
    assert_eq!(body["file_type"], "video/mp4");
    let (_, listed) = app.get("/assets").await;
    assert_eq!(listed["data"][0]["_id"], body["_id"]);
    assert_eq!(app.asset_folders().len(), 1);
}

#[tokio::test]
async fn a_truncated_mp4_becomes_a_failed_asset_with_a_message() {
    let app = TestApp::spawn().await;
    let (status, body) = app.upload(&fixtures().path("truncated.mp4")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.is_empty() && !message.contains(app.data_dir.path().to_str().unwrap()),
        "{message}"
    );
    assert!(app.tmp_files().is_empty());
    // The failed asset can be deleted like any other.
    let (status, _) = app
        .delete(&format!("/assets/{}", body["_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 204);
    assert!(app.asset_folders().is_empty());
}
