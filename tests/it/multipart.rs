//! Multipart upload sessions (`/v1.3/assets/multipart-uploads` and the signed
//! chunk URLs), driven the way the SDKs' helpers drive them, and the bad
//! inputs they must survive. Chunks are 5 MiB (the least), so `slow.avi`
//! (8 MB) is two chunks.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{
    assert_error, fixtures, json_of, kill_and_restart, wait_until_settled, TestApp, SHORT_LEASE,
};

const CHUNK: usize = 5 * 1024 * 1024;
const SMALL_CHUNKS: (&str, &str) = ("ASSETD_MULTIPART_CHUNK_BYTES", "5242880");

async fn create_session(app: &TestApp, file: &[u8], extra: Value) -> Value {
    let mut body = json!({"filename": "slow.avi", "type": "video", "total_size": file.len()});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, session) = app
        .send_json(Method::POST, "/assets/multipart-uploads", body)
        .await;
    assert_eq!(status, 201, "{session}");
    session
}

fn chunk_url(session: &Value, index: u64) -> String {
    session["upload_urls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["chunk_index"] == index)
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// PUTs bytes as the helpers do: no key, octet-stream. (status, ETag or body).
async fn put_chunk(url: &str, bytes: &[u8]) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    (status, etag.unwrap_or(text))
}

async fn report(app: &TestApp, upload: &str, chunks: &[(u64, &str)]) -> (u16, Value) {
    let completed: Vec<Value> = chunks
        .iter()
        .map(|(index, proof)| {
            json!({"chunk_index": index, "proof": proof.trim_matches('"'), "proof_type": "etag", "chunk_size": CHUNK})
        })
        .collect();
    app.send_json(
        Method::POST,
        &format!("/assets/multipart-uploads/{upload}"),
        json!({"completed_chunks": completed}),
    )
    .await
}

fn original_of(app: &TestApp, id: &str) -> Vec<u8> {
    let path = crate::common::asset_folder(app.data_dir.path(), id).join("original");
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn chunks_in_any_order_sent_and_reported_twice_make_the_asset() {
    let app = TestApp::spawn_with(&[SMALL_CHUNKS]).await;
    let file = std::fs::read(fixtures().path("slow.avi")).unwrap();
    let session = create_session(&app, &file, json!({"enable_thumbnail": true})).await;
    assert_eq!(session["chunk_size"], CHUNK);
    assert_eq!(session["total_chunks"], 2);
    let upload = session["upload_id"].as_str().unwrap().to_string();
    let id = session["asset_id"].as_str().unwrap().to_string();
    let (_, asset) = app.get(&format!("/assets/{id}")).await;
    assert_eq!(asset["method"], "multipart");
    assert_eq!(asset["status"], "processing");

    let (status, second) = put_chunk(&chunk_url(&session, 2), &file[CHUNK..]).await;
    assert_eq!(status, 200, "{second}");
    assert!(
        second.starts_with('"') && second.ends_with('"'),
        "a strong, quoted ETag: {second}"
    );
    let (_, first) = put_chunk(&chunk_url(&session, 1), &file[..CHUNK]).await;
    let (status, again) = put_chunk(&chunk_url(&session, 1), &file[..CHUNK]).await;
    assert_eq!(
        (status, &again),
        (200, &first),
        "the same URL takes a retry"
    );

    // Stored but not reported: both are still pending, and listed.
    let (_, state) = app
        .get(&format!("/assets/multipart-uploads/{upload}?page_limit=1"))
        .await;
    assert_eq!(state["status"], "active");
    assert_eq!(
        state["uploaded_chunks"],
        json!([{"index": 1, "status": "pending", "uploaded_at": state["uploaded_chunks"][0]["uploaded_at"], "updated_at": state["uploaded_chunks"][0]["updated_at"]}])
    );
    let (_, past) = app
        .get(&format!(
            "/assets/multipart-uploads/{upload}?page=3&page_limit=1"
        ))
        .await;
    assert_eq!(past["uploaded_chunks"], json!([]), "empty past the end");
    let (_, listed) = app.get("/assets/multipart-uploads").await;
    assert_eq!(listed["data"][0]["upload_id"], upload.as_str());

    let (status, answer) = report(&app, &upload, &[(2, &second)]).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.get("url").is_none(),
        "no url before every chunk: {answer}"
    );
    assert_eq!(answer["total_completed"], 1);
    // A reported chunk is final: the same bytes again are fine, others not.
    let (status, again) = put_chunk(&chunk_url(&session, 2), &file[CHUNK..]).await;
    assert_eq!(
        (status, &again),
        (200, &second),
        "a retry of a reported chunk"
    );
    let mut changed = file[CHUNK..].to_vec();
    changed[0] ^= 1;
    let (status, refused) = put_chunk(&chunk_url(&session, 2), &changed).await;
    assert_eq!(status, 409, "{refused}");
    let refused: Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused["code"], "chunk_already_reported", "{refused}");
    let (status, answer) = report(&app, &upload, &[(1, &first), (2, &second)]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["processed_chunks"], 1);
    assert_eq!(answer["duplicate_chunks"], 1);
    assert_eq!(answer["total_completed"], 2);
    assert!(
        answer["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1.3/assets/{id}")),
        "{answer}"
    );
    let (status, answer) = report(&app, &upload, &[(1, &first)]).await;
    assert_eq!(status, 200, "a report past completion: {answer}");
    assert!(answer.get("url").is_some());

    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(asset["size"], file.len());
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    assert_eq!(
        hex::encode(Sha256::digest(original_of(&app, &id))),
        hex::encode(Sha256::digest(&file))
    );
    let (_, state) = app
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await;
    assert_eq!(state["status"], "completed");
    assert_eq!(state["chunks_completed"], 2);
    let (status, refused) = put_chunk(&chunk_url(&session, 1), &file[..CHUNK]).await;
    assert_eq!(status, 409, "a completed upload takes no chunk: {refused}");
    assert!(
        !app.data_dir.path().join("multipart").join(&upload).exists(),
        "the chunk files went once assembled"
    );
    // What is left is the session's expiry check, due in a day: scheduled
    // work, not work waiting for a worker.
    let (_, jobs) = app.get("/jobs").await;
    assert_eq!(
        jobs["counts"],
        json!([{"kind": "expire_upload", "state": "scheduled", "count": 1}]),
        "{jobs}"
    );
}

#[tokio::test]
async fn bad_sessions_chunks_and_reports_are_refused() {
    let app = TestApp::spawn_with(&[SMALL_CHUNKS, ("ASSETD_MAX_UPLOAD_BYTES", "100000000")]).await;
    let file = std::fs::read(fixtures().path("slow.avi")).unwrap();
    for (body, status, code, name) in [
        (
            json!({"type": "video", "total_size": 10}),
            400,
            "parameter_not_provided",
            "filename",
        ),
        (
            json!({"filename": "a.mp4", "total_size": 10}),
            400,
            "parameter_not_provided",
            "type",
        ),
        (
            json!({"filename": "a.mp4", "type": "doc", "total_size": 10}),
            400,
            "parameter_unknown",
            "type",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": 0}),
            400,
            "parameter_invalid",
            "total_size",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": "big"}),
            400,
            "parameter_invalid",
            "total_size",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": 200_000_000}),
            413,
            "file_too_large",
            "100000000",
        ),
        (
            json!({"filename": "../x", "type": "video", "total_size": 10}),
            400,
            "parameter_invalid",
            "filename",
        ),
    ] {
        let (got, answer) = app
            .send_json(Method::POST, "/assets/multipart-uploads", body.clone())
            .await;
        let message = assert_error(got, &answer, status, code);
        assert!(message.contains(name), "{body}: {message}");
    }
    assert_eq!(app.asset_count().await, 0, "no asset for a refused session");

    let session = create_session(&app, &file, json!({})).await;
    let upload = session["upload_id"].as_str().unwrap();
    let url = chunk_url(&session, 1);
    let (status, body) = put_chunk(&url, &file[..CHUNK + 1]).await;
    assert_eq!(status, 400, "a chunk larger than chunk_size: {body}");
    let (status, body) = put_chunk(&url, &file[..CHUNK - 1]).await;
    assert_eq!(status, 400, "a short chunk that is not the last: {body}");
    // Refused before the body is read: a small one, so that the client sees the answer.
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    assert_eq!(put_chunk(&tampered, b"x").await.0, 403);
    let other_index = url.replacen(&format!("/{upload}/1/"), &format!("/{upload}/2/"), 1);
    assert_eq!(
        put_chunk(&other_index, b"x").await.0,
        403,
        "a URL signs its index"
    );

    let (_, etag) = put_chunk(&url, &file[..CHUNK]).await;
    let (status, answer) = report(&app, upload, &[(1, "0000")]).await;
    let message = assert_error(status, &answer, 400, "parameter_invalid");
    assert!(message.contains("proof"), "{message}");
    let (status, answer) = report(&app, upload, &[(1, &etag), (2, "x")]).await;
    let message = assert_error(status, &answer, 400, "parameter_invalid");
    assert!(message.contains("chunk 2"), "{message}");
    let (_, state) = app
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await;
    assert_eq!(
        state["chunks_completed"], 0,
        "a refused report records nothing"
    );

    for (body, name) in [
        (json!({"start": 0, "count": 1}), "start"),
        (json!({"start": 1, "count": 51}), "count"),
    ] {
        let (status, answer) = app
            .send_json(
                Method::POST,
                &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
                body,
            )
            .await;
        let message = assert_error(status, &answer, 400, "parameter_invalid");
        assert!(message.contains(name), "{message}");
    }
    let (status, urls) = app
        .send_json(
            Method::POST,
            &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
            json!({"start": 2, "count": 50}),
        )
        .await;
    assert_eq!(status, 200, "{urls}");
    assert_eq!(urls["count"], 1, "only the chunks there are");
    assert_eq!(urls["upload_urls"][0]["chunk_index"], 2);

    // Another account's upload is not there for it.
    let other = app.key_for("other-account").await;
    let (status, answer) = app
        .send_json_as(
            &other,
            Method::POST,
            &format!("/assets/multipart-uploads/{upload}"),
            json!({"completed_chunks": []}),
        )
        .await;
    assert_error(status, &answer, 404, "resource_not_exist");
    let response = app
        .client
        .get(app.url(&format!("/assets/multipart-uploads/{upload}")))
        .header("x-api-key", &other)
        .send()
        .await
        .unwrap();
    let (status, answer) = json_of(response).await;
    assert_error(status, &answer, 404, "resource_not_exist");

    // POST /assets never makes a multipart asset.
    let form = reqwest::multipart::Form::new().text("method", "multipart");
    let (status, answer) = app.create(form).await;
    assert_error(status, &answer, 400, "parameter_unknown");
}

#[tokio::test]
async fn a_session_that_expires_fails_its_asset_and_leaves_nothing() {
    let app = TestApp::spawn_with(&[SMALL_CHUNKS, ("ASSETD_MULTIPART_SESSION_SECS", "2")]).await;
    let file = std::fs::read(fixtures().path("slow.avi")).unwrap();
    let session = create_session(&app, &file, json!({})).await;
    let upload = session["upload_id"].as_str().unwrap();
    let id = session["asset_id"].as_str().unwrap();
    let (status, _) = put_chunk(&chunk_url(&session, 1), &file[..CHUNK]).await;
    assert_eq!(status, 200);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let asset = loop {
        let (_, asset) = app.get(&format!("/assets/{id}")).await;
        if asset["status"] != "processing" {
            break asset;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never expired: {asset}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(asset["status"], "failed");
    assert!(
        asset["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{asset}"
    );
    let (_, state) = app
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await;
    assert_eq!(state["status"], "expired");
    let (status, body) = put_chunk(&chunk_url(&session, 2), b"x").await;
    assert_eq!(status, 403, "its URLs expired with it: {body}");
    assert!(!app.data_dir.path().join("multipart").join(upload).exists());
    if let Some(server) = crate::common::s3_server() {
        let bucket = crate::common::bucket_name(app.data_dir.path());
        assert_eq!(
            crate::test_s3::unfinished_uploads_in(&server, &bucket).await,
            0,
            "aborted in the bucket"
        );
    }
}

/// SIGKILL right after the last report, while the assembly is queued or
/// running (or just done: every moment must be safe): after a restart the
/// asset becomes ready with the file's exact bytes, nothing half-assembled is
/// ever ready, and no chunk is left.
#[tokio::test]
async fn a_crash_while_the_upload_is_assembled_loses_nothing() {
    let env = [SMALL_CHUNKS, SHORT_LEASE];
    let app = TestApp::spawn_with(&env).await;
    let file = std::fs::read(fixtures().path("slow.avi")).unwrap();
    let session = create_session(&app, &file, json!({})).await;
    let upload = session["upload_id"].as_str().unwrap().to_string();
    let id = session["asset_id"].as_str().unwrap().to_string();
    let (_, first) = put_chunk(&chunk_url(&session, 1), &file[..CHUNK]).await;
    let (_, second) = put_chunk(&chunk_url(&session, 2), &file[CHUNK..]).await;
    let (status, answer) = report(&app, &upload, &[(1, &first), (2, &second)]).await;
    assert!(status == 200 && answer.get("url").is_some(), "{answer}");

    let app = kill_and_restart(app, &env).await;
    let (_, asset) = app.get(&format!("/assets/{id}")).await;
    if asset["status"] == "ready" {
        assert_eq!(asset["size"], file.len(), "ready means whole: {asset}");
    }
    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(asset["size"], file.len());
    assert_eq!(
        hex::encode(Sha256::digest(original_of(&app, &id))),
        hex::encode(Sha256::digest(&file))
    );
    assert!(!app.data_dir.path().join("multipart").join(&upload).exists());
}

/// Starts a chunk PUT that sends `sent` and then stalls (the client neither
/// finishes nor goes away), as a connection does when the server dies under
/// it. The returned task ends when the server is gone.
async fn stalled_put(url: &str, sent: &[u8]) -> tokio::task::JoinHandle<()> {
    use futures_util::StreamExt;
    let first = Ok::<_, std::io::Error>(sent.to_vec());
    let body = futures_util::stream::once(async { first }).chain(futures_util::stream::pending());
    let request = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/octet-stream")
        .header("content-length", CHUNK.to_string())
        .body(reqwest::Body::wrap_stream(body));
    tokio::spawn(async move {
        let _ = request.send().await;
    })
}

/// SIGKILL while chunk PUTs are half sent: one re-sending a chunk already
/// reported, one replacing a chunk stored but not reported. After a restart
/// the reported chunk still holds with its proof; the other is pending and
/// either still its old self (on disk, where a replacement lands whole or not
/// at all) or not stored (on S3, whose servers may drop a part as its
/// replacement begins), and then the client sends it again. Either way the
/// asset is made of the right bytes, and the killed PUTs' partial files are
/// gone once the session ends.
#[tokio::test]
async fn a_crash_during_chunk_puts_loses_no_reported_chunk() {
    let app = TestApp::spawn_with(&[SMALL_CHUNKS]).await;
    let file = std::fs::read(fixtures().path("slow.avi")).unwrap();
    let session = create_session(&app, &file, json!({})).await;
    let upload = session["upload_id"].as_str().unwrap().to_string();
    let id = session["asset_id"].as_str().unwrap().to_string();
    let (status, first) = put_chunk(&chunk_url(&session, 1), &file[..CHUNK]).await;
    assert_eq!(status, 200, "{first}");
    let (status, answer) = report(&app, &upload, &[(1, &first)]).await;
    assert!(status == 200 && answer.get("url").is_none(), "{answer}");
    let (status, second) = put_chunk(&chunk_url(&session, 2), &file[CHUNK..]).await;
    assert_eq!(status, 200, "{second}");

    // Part of each chunk on the wire; the new one on its way to storage (a
    // reported chunk sent again is only compared, never stored).
    let resend = stalled_put(&chunk_url(&session, 1), &file[..CHUNK / 2]).await;
    let replace = stalled_put(&chunk_url(&session, 2), &file[CHUNK..CHUNK + CHUNK / 4]).await;
    let chunk_dir = app.data_dir.path().join("multipart").join(&upload);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let partials = std::fs::read_dir(&chunk_dir)
            .map(|dir| {
                dir.filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_str().unwrap().contains(".part-")
                })
                .count()
            })
            .unwrap_or(0);
        // On S3 the part streams to the bucket: nothing to see here, so a
        // moment's wait stands in for the sight of it.
        if partials == 1 || (crate::common::s3_server().is_some() && partials == 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{partials} partial chunk files"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let app = kill_and_restart(app, &[SMALL_CHUNKS]).await;
    resend.await.unwrap();
    replace.await.unwrap();
    let (status, state) = app
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["status"], "active", "{state}");
    let chunks: Vec<(u64, String)> = state["uploaded_chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        chunks,
        [(1, "completed".into()), (2, "pending".into())],
        "{state}"
    );

    let (status, answer) = report(&app, &upload, &[(1, &first), (2, &second)]).await;
    if crate::common::s3_server().is_some() {
        assert_error(status, &answer, 400, "parameter_invalid");
        // Resume as a client does: a URL for the chunk (the server's
        // address changed with the restart), the chunk, its report.
        let (status, fresh) = app
            .send_json(
                Method::POST,
                &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
                json!({"start": 2, "count": 1}),
            )
            .await;
        assert_eq!(status, 200, "{fresh}");
        let (status, again) = put_chunk(&chunk_url(&fresh, 2), &file[CHUNK..]).await;
        assert_eq!((status, &again), (200, &second));
        let (status, answer) = report(&app, &upload, &[(2, &second)]).await;
        assert!(status == 200 && answer.get("url").is_some(), "{answer}");
    } else {
        assert!(status == 200 && answer.get("url").is_some(), "{answer}");
    }
    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(
        hex::encode(Sha256::digest(original_of(&app, &id))),
        hex::encode(Sha256::digest(&file))
    );
    assert!(
        !chunk_dir.exists(),
        "partial chunk files are gone with the session"
    );
    app.assert_nothing_left(1).await;
}

/// A session says what it uploads (`type`); the probe decides. An audio file
/// sent as a video is listed as a video while it is assembled, and as audio
/// once ready: a name filter with a kind follows the change.
#[tokio::test]
async fn the_kind_the_probe_finds_is_the_kind_a_name_filter_sees() {
    let app = TestApp::spawn().await;
    let file = std::fs::read(fixtures().path("tone.mp3")).unwrap();
    let (status, session) = app
        .send_json(
            Method::POST,
            "/assets/multipart-uploads",
            json!({"filename": "Voice memo.mp3", "type": "video", "total_size": file.len()}),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let id = session["asset_id"].as_str().unwrap().to_string();
    let upload = session["upload_id"].as_str().unwrap().to_string();
    let named = |kind: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app
                .get(&format!("/assets?filename=voice%20memo&asset_types={kind}"))
                .await;
            assert_eq!(status, 200, "{page}");
            (
                page["page_info"]["total_results"].as_u64().unwrap(),
                page["data"].as_array().unwrap().len(),
            )
        }
    };
    assert_eq!(named("video").await, (1, 1), "as declared, while assembled");
    assert_eq!(named("audio").await, (0, 0));

    let (status, etag) = put_chunk(&chunk_url(&session, 1), &file).await;
    assert_eq!(status, 200, "{etag}");
    let (status, answer) = report(&app, &upload, &[(1, &etag)]).await;
    assert_eq!(status, 200, "{answer}");
    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(
        (&asset["status"], &asset["file_type"]),
        (&json!("ready"), &json!("audio/mpeg")),
        "{asset}"
    );
    assert_eq!(named("audio").await, (1, 1), "as probed");
    assert_eq!(named("video").await, (0, 0));
    assert_eq!(named("audio,video").await, (1, 1));
}
