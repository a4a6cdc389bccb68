//! Thumbnails and HLS: made after the asset is ready, served under signed URLs.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    assert_error, direct_form, fetch_thumbnail, fixtures, json_of, played_seconds,
    wait_until_settled, TestApp,
};

pub async fn upload_with_steps(app: &TestApp, fixture: &str) -> Value {
    let form = direct_form(&fixtures().path(fixture))
        .text("enable_hls", "true")
        .text("enable_thumbnail", "true");
    let (status, body) = app.create(form).await;
    assert_eq!(status, 201, "{body}");
    wait_until_settled(app, body["_id"].as_str().unwrap()).await
}

#[tokio::test]
async fn a_video_gets_a_thumbnail_and_a_playable_hls_stream_without_a_key() {
    let app = TestApp::spawn().await;
    let asset = upload_with_steps(&app, "clip.mp4").await;
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");

    let thumb_url = asset["thumbnail"]["representative_url"].as_str().unwrap();
    assert!(
        thumb_url.starts_with(&app.base),
        "absolute URL from the public URL: {thumb_url}"
    );
    let response = reqwest::get(thumb_url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let jpeg = response.bytes().await.unwrap();
    let picture = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((picture.width(), picture.height()), (320, 240));

    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    let response = reqwest::get(manifest).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert!(response.text().await.unwrap().starts_with("#EXTM3U"));
    let played = played_seconds(manifest);
    assert!(
        (played - 2.0).abs() < 0.5,
        "the HLS stream plays for {played} s"
    );
}

#[tokio::test]
async fn media_responses_support_range_and_conditional_get() {
    let app = TestApp::spawn().await;
    let asset = upload_with_steps(&app, "clip.mp4").await;
    let url = asset["thumbnail"]["representative_url"].as_str().unwrap();
    let client = reqwest::Client::new();

    let full = client.get(url).send().await.unwrap();
    let etag = full.headers()["etag"].to_str().unwrap().to_string();
    let last_modified = full.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(full.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let body = full.bytes().await.unwrap();

    let part = client
        .get(url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", body.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap(), body.slice(10..20));

    let again = client
        .get(url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let again = client
        .get(url)
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let other = client
        .get(url)
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);

    // The playlist's relative segment URIs work under the same signature.
    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    let index = manifest.replace("master.m3u8", "index.m3u8");
    let playlist = client
        .get(&index)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let segment = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let response = client
        .get(manifest.replace("master.m3u8", segment))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp2t");
}

#[tokio::test]
async fn tampered_expired_and_deleted_media_urls_are_refused() {
    let app = TestApp::spawn_with(&[("ASSETD_MEDIA_URL_TTL_SECS", "1")]).await;
    let asset = upload_with_steps(&app, "frame.png").await;
    assert!(asset.get("hls").is_none(), "no HLS for images: {asset}");
    let url = asset["thumbnail"]["representative_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);

    // Another file of the asset, or the original, cannot be named.
    let (status, body) = json_of(
        reqwest::get(url.replace("thumb.jpg", "original"))
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 404, "resource_not_exist");
    // A changed signature or expiry is refused.
    let parts: Vec<&str> = url.rsplitn(4, '/').collect(); // [file, signature, expires, prefix]
    let flipped = if parts[1].starts_with('0') { "1" } else { "0" };
    let tampered = format!(
        "{}/{}/{}{}/{}",
        parts[3],
        parts[2],
        flipped,
        &parts[1][1..],
        parts[0]
    );
    let (status, body) = json_of(reqwest::get(&tampered).await.unwrap()).await;
    assert_error(status, &body, 403, "access_denied");
    let later: i64 = parts[2].parse::<i64>().unwrap() + 3600;
    let (status, body) = json_of(
        reqwest::get(format!("{}/{later}/{}/{}", parts[3], parts[1], parts[0]))
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 403, "access_denied");

    // Expired after the TTL; a retrieve hands out a fresh, working URL.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = json_of(reqwest::get(&url).await.unwrap()).await;
    let message = assert_error(status, &body, 403, "access_denied");
    assert!(message.contains("expired"), "{message}");
    let (_, fresh) = app
        .get(&format!("/assets/{}", asset["_id"].as_str().unwrap()))
        .await;
    let fresh_url = fresh["thumbnail"]["representative_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(fresh_url, url);
    assert_eq!(reqwest::get(&fresh_url).await.unwrap().status(), 200);

    // A deleted asset's URLs answer 404.
    app.delete(&format!("/assets/{}", asset["_id"].as_str().unwrap()))
        .await;
    let (status, body) = json_of(reqwest::get(&fresh_url).await.unwrap()).await;
    assert_error(status, &body, 404, "resource_not_exist");
}

#[tokio::test]
async fn audio_gets_an_audio_only_stream_and_a_waveform() {
    let app = TestApp::spawn().await;
    let asset = upload_with_steps(&app, "tone.mp3").await;
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    let played = played_seconds(asset["hls"]["manifest_url"].as_str().unwrap());
    assert!((played - 2.0).abs() < 0.5, "{played}");
    let picture = fetch_thumbnail(&asset).await;
    assert!(picture.width() > picture.height(), "a waveform is wide");
}

#[tokio::test]
async fn a_media_child_over_its_time_limit_fails_only_that_step() {
    let slow = fixtures().path("slow.avi");
    let app = TestApp::spawn_with(&[("ASSETD_HLS_TIMEOUT_SECS", "1")]).await;
    let form = direct_form(&slow)
        .text("enable_hls", "true")
        .text("enable_thumbnail", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    let asset = wait_until_settled(&app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "ready");
    assert_eq!(asset["hls"]["status"], "error", "{asset}");
    assert!(asset["hls"].get("manifest_url").is_none());
    let message = asset["hls"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("longer than"), "{message}");
    assert_eq!(
        asset["thumbnail"]["status"], "ready",
        "the other step is unaffected: {asset}"
    );
    // The server is fine, and nothing half made is left in the asset's folder.
    let (status, _) = app.get("/assets").await;
    assert_eq!(status, 200);
    let folder = &app.asset_folders()[0];
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["original", "thumb.jpg"]);
}
