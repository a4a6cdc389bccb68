//! Webhooks: an account's endpoints get signed events for its assets' changes,
//! at least once: again after a 500, and again after the server was killed
//! between the change and the delivery. A real local receiver checks each
//! `TL-Signature` as a receiver would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::{
    assert_error, asset_with_thumbnail, data_env, direct_form, fixtures, kill_and_restart,
    lose_stored_file, one_chunk_session, put_the_chunk, TestApp, BIN, SHORT_LEASE,
};

/// What the receiver answers each request, in turn; then 200.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Holds the request without answering (until the test ends).
    Hang,
}

#[derive(Clone, Default)]
struct Received {
    /// (TL-Signature, raw body) of each request, in order.
    requests: Arc<Mutex<Vec<(String, String)>>>,
    script: Arc<Mutex<Vec<Answer>>>,
}

struct Receiver {
    url: String,
    received: Received,
    _server: tokio::task::JoinHandle<()>,
}

async fn receive(State(received): State<Received>, headers: HeaderMap, body: String) -> StatusCode {
    let signature = headers
        .get("tl-signature")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    received.requests.lock().unwrap().push((signature, body));
    let next = {
        let mut script = received.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    match next {
        Some(Answer::Status(code)) => StatusCode::from_u16(code).unwrap(),
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
        None => StatusCode::OK,
    }
}

impl Receiver {
    async fn start(script: Vec<Answer>) -> Self {
        let received = Received {
            script: Arc::new(Mutex::new(script)),
            ..Received::default()
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            received,
            _server: server,
        }
    }

    /// The events received so far, each checked against `secret` as a
    /// receiver must: a `t` within 5 minutes, and `v1` the HMAC-SHA256 of
    /// `t.body`.
    fn events(&self, secret: &str) -> Vec<Value> {
        let requests = self.received.requests.lock().unwrap().clone();
        requests
            .iter()
            .map(|(signature, body)| {
                let (t, v1) = signature
                    .split_once(',')
                    .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
                    .unwrap_or_else(|| panic!("bad TL-Signature: {signature:?}"));
                let t: i64 = t.parse().unwrap();
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                assert!(
                    (now - t).abs() <= 300,
                    "t={t} is not within 5 minutes of {now}"
                );
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{t}.{body}").as_bytes());
                mac.verify_slice(&hex::decode(v1).unwrap())
                    .unwrap_or_else(|_| panic!("the signature does not match the body: {body}"));
                serde_json::from_str(body).unwrap()
            })
            .collect()
    }

    /// Waits until `n` requests arrived.
    async fn wait_for(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.received.requests.lock().unwrap().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} deliveries arrived",
                self.received.requests.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Registers the receiver; returns (webhook id, secret).
async fn register(app: &TestApp, url: &str, events: Option<&[&str]>) -> (String, String) {
    let mut body = json!({ "url": url });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    let (status, created) = app.send_json(Method::POST, "/webhooks", body).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    (created["_id"].as_str().unwrap().to_string(), secret)
}

fn types(events: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    types
}

#[tokio::test]
async fn an_assets_changes_reach_the_receiver_signed_once_each() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (webhook, secret) = register(&app, &receiver.url, None).await;

    let id = asset_with_thumbnail(&app).await;
    receiver.wait_for(2).await;
    let (status, _) = app.delete(&format!("/assets/{id}")).await;
    assert_eq!(status, 204);
    receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let events = receiver.events(&secret);
    assert_eq!(
        types(&events),
        ["asset.deleted", "asset.ready", "asset.thumbnail.ready"],
        "{events:?}"
    );
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each event once, with an id of its own");
    for event in &events {
        assert_eq!(event["data"]["_id"], id.as_str(), "{event}");
        assert!(
            event["created_at"].as_str().unwrap().ends_with('Z'),
            "{event}"
        );
    }
    let ready = events.iter().find(|e| e["type"] == "asset.ready").unwrap();
    assert_eq!(ready["data"]["status"], "ready");
    let thumbnail = events
        .iter()
        .find(|e| e["type"] == "asset.thumbnail.ready")
        .unwrap();
    assert_eq!(thumbnail["data"]["thumbnail"]["status"], "ready");

    // The endpoint and its deliveries, through the API; never the secret again.
    let (status, listed) = app.get("/webhooks").await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["_id"], webhook.as_str());
    assert!(listed["data"][0].get("secret").is_none(), "{listed}");
    let (status, deliveries) = app.get(&format!("/webhooks/{webhook}/deliveries")).await;
    assert_eq!(status, 200);
    let deliveries = deliveries["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    assert!(
        deliveries.iter().all(|d| d["status_code"] == 200),
        "{deliveries:?}"
    );

    // A file that cannot be read: its asset fails, and says so.
    let (status, failed) = app.upload(&fixtures().path("truncated.mp4")).await;
    assert_eq!(status, 201, "{failed}");
    assert_eq!(failed["status"], "failed");
    receiver.wait_for(4).await;
    let events = receiver.events(&secret);
    let event = events.iter().find(|e| e["type"] == "asset.failed").unwrap();
    assert_eq!(event["data"]["_id"], failed["_id"]);
    assert_eq!(event["data"]["error"], failed["error"]);

    // A video with HLS: ready, then its stream.
    let form = direct_form(&fixtures().path("clip.mp4")).text("enable_hls", "true");
    let (status, video) = app.create(form).await;
    assert_eq!(status, 201, "{video}");
    receiver.wait_for(6).await;
    let events = receiver.events(&secret);
    let hls = events
        .iter()
        .find(|e| e["type"] == "asset.hls.ready")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(hls["data"]["_id"], video["_id"]);
    assert_eq!(hls["data"]["hls"]["status"], "ready");
    assert!(hls["data"]["hls"]["manifest_url"]
        .as_str()
        .unwrap()
        .ends_with("/hls/master.m3u8"));

    // Another account sees none of it.
    let other = app.key_for("someone-else").await;
    let (status, body) = app
        .send_json_as(
            &other,
            Method::GET,
            &format!("/webhooks/{webhook}"),
            Value::Null,
        )
        .await;
    assert_error(status, &body, 404, "resource_not_exist");
}

#[tokio::test]
async fn a_receiver_that_fails_gets_the_same_event_again() {
    let receiver = Receiver::start(vec![Answer::Status(500)]).await;
    let app = TestApp::spawn_with(&[("ASSETD_JOB_RETRY_MS", "3000")]).await;
    let (webhook, secret) = register(&app, &receiver.url, Some(&["asset.ready"])).await;

    let (status, created) = app.create(direct_form(&fixtures().path("frame.png"))).await;
    assert_eq!(status, 201, "{created}");
    receiver.wait_for(1).await;
    // While the retry waits, the asset goes and fsck --repair runs: neither
    // drops the delivery of an event that already happened.
    let id = created["_id"].as_str().unwrap();
    let (status, _) = app.delete(&format!("/assets/{id}")).await;
    assert_eq!(status, 204);
    let fsck = tokio::process::Command::new(BIN)
        .args(["fsck", "--repair"])
        .envs(data_env(app.data_dir.path()))
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&fsck.stdout);
    assert!(!said.contains("webhook"), "{said}");

    receiver.wait_for(2).await;
    let events = receiver.events(&secret);
    assert_eq!(types(&events), ["asset.ready", "asset.ready"]);
    assert_eq!(
        events[0]["id"], events[1]["id"],
        "a retry keeps the event's id"
    );
    assert_eq!(events[0], events[1], "and its body");

    let (_, deliveries) = app.get(&format!("/webhooks/{webhook}/deliveries")).await;
    let codes: Vec<&Value> = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["status_code"])
        .collect();
    assert_eq!(
        codes,
        [&json!(200), &json!(500)],
        "newest first: {deliveries}"
    );
}

#[tokio::test]
async fn a_crash_between_the_change_and_the_delivery_loses_no_event() {
    // The first delivery is held unanswered: the server dies with it in flight.
    let receiver = Receiver::start(vec![Answer::Hang]).await;
    let app = TestApp::spawn_with(&[SHORT_LEASE]).await;
    let (_, secret) = register(&app, &receiver.url, Some(&["asset.ready"])).await;
    let (status, created) = app.create(direct_form(&fixtures().path("frame.png"))).await;
    assert_eq!(status, 201, "{created}");
    receiver.wait_for(1).await;

    let app = kill_and_restart(app, &[SHORT_LEASE]).await;
    receiver.wait_for(2).await;
    let events = receiver.events(&secret);
    assert_eq!(events[0]["id"], events[1]["id"], "{events:?}");
    assert_eq!(events[1]["data"]["_id"], created["_id"]);
    drop(app);
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_json_errors() {
    let app = TestApp::spawn_with(&[("ASSETD_ALLOW_PRIVATE_URLS", "false")]).await;
    for (body, code) in [
        (json!({}), "parameter_not_provided"),
        (json!({"url": "not a url"}), "parameter_invalid"),
        (json!({"url": "ftp://example.com/hook"}), "url_not_allowed"),
        (json!({"url": "http://127.0.0.1:9/hook"}), "url_not_allowed"),
        (
            json!({"url": "https://example.com/hook", "events": []}),
            "parameter_invalid",
        ),
        (
            json!({"url": "https://example.com/hook", "events": ["asset.created"]}),
            "parameter_invalid",
        ),
    ] {
        let (status, answer) = app.send_json(Method::POST, "/webhooks", body.clone()).await;
        let message = assert_error(status, &answer, 400, code);
        assert!(!message.contains(".."), "{message}");
    }
    let (status, listed) = app.get("/webhooks").await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"], json!([]), "nothing was made");

    let (status, body) = app.delete("/webhooks/wh_missing").await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, body) = app.get("/webhooks/wh_missing/deliveries").await;
    assert_error(status, &body, 404, "resource_not_exist");

    // A public name is taken (it is resolved and checked at each delivery),
    // and removed.
    let (status, created) = app
        .send_json(
            Method::POST,
            "/webhooks",
            json!({"url": "https://example.com/hook", "events": ["asset.deleted"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["events"], json!(["asset.deleted"]));
    let id = created["_id"].as_str().unwrap();
    let (status, _) = app.delete(&format!("/webhooks/{id}")).await;
    assert_eq!(status, 204);
    let (status, body) = app.get(&format!("/webhooks/{id}")).await;
    assert_error(status, &body, 404, "resource_not_exist");
}

/// `assetd ...` on the server's data dir, while it runs: its success and
/// what it said.
async fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .envs(data_env(app.data_dir.path()))
        .output()
        .await
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[tokio::test]
async fn the_command_line_adds_lists_and_removes_endpoints() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (ok, said) = cli(
        &app,
        &[
            "webhooks",
            "add",
            "--account",
            "default",
            "--url",
            &receiver.url,
            "--events",
            "asset.ready",
            "--allow-private-urls",
        ],
    )
    .await;
    assert!(ok, "{said}");
    let lines: Vec<&str> = said.lines().collect();
    let (id, secret) = (lines[0].to_string(), lines[1].to_string());
    assert!(
        id.starts_with("wh_") && secret.starts_with("whsec_"),
        "{said}"
    );

    // The API key's account ('default') gets the events, signed with that secret.
    let (status, created) = app.create(direct_form(&fixtures().path("frame.png"))).await;
    assert_eq!(status, 201, "{created}");
    receiver.wait_for(1).await;
    assert_eq!(receiver.events(&secret)[0]["data"]["_id"], created["_id"]);

    let (ok, said) = cli(&app, &["webhooks", "list", "--account", "default"]).await;
    assert!(
        ok && said.contains(&id) && said.contains(&receiver.url),
        "{said}"
    );
    let (ok, said) = cli(
        &app,
        &[
            "webhooks",
            "add",
            "--account",
            "nobody",
            "--url",
            &receiver.url,
        ],
    )
    .await;
    assert!(!ok && said.contains("no account named 'nobody'"), "{said}");
    let (ok, said) = cli(
        &app,
        &[
            "webhooks",
            "add",
            "--account",
            "default",
            "--url",
            &receiver.url,
        ],
    )
    .await;
    assert!(
        !ok && said.contains("private"),
        "the SSRF guard holds here too: {said}"
    );
    let (ok, said) = cli(&app, &["webhooks", "remove", &id, "--account", "default"]).await;
    assert!(ok, "{said}");
    let (status, listed) = app.get("/webhooks").await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn multipart_uploads_report_completion_and_expiry() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn_with(&[("ASSETD_MULTIPART_SESSION_SECS", "2")]).await;
    let (_, secret) = register(&app, &receiver.url, None).await;
    let file = std::fs::read(fixtures().path("clip.mp4")).unwrap();

    // Completed: every chunk reported; then the assembled asset is ready.
    let done = one_chunk_session(&app, &file).await;
    let etag = put_the_chunk(&done, &file).await;
    let upload = done["upload_id"].as_str().unwrap();
    let (status, reported) = app
        .send_json(
            Method::POST,
            &format!("/assets/multipart-uploads/{upload}"),
            json!({"completed_chunks": [{"chunk_index": 1, "proof": etag}]}),
        )
        .await;
    assert_eq!(status, 200, "{reported}");
    // Expired: a session left without its chunk.
    let left = one_chunk_session(&app, &file).await;

    receiver.wait_for(4).await;
    let events = receiver.events(&secret);
    let of = |session: &Value| -> Vec<String> {
        let mut types: Vec<String> = events
            .iter()
            .filter(|e| e["data"]["_id"] == session["asset_id"])
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        types.sort();
        types
    };
    assert_eq!(
        of(&done),
        ["asset.ready", "multipart_upload.completed"],
        "{events:?}"
    );
    assert_eq!(
        of(&left),
        ["asset.failed", "multipart_upload.expired"],
        "{events:?}"
    );
}

#[tokio::test]
async fn events_are_kept_for_the_configured_days_then_pruned() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (webhook, _) = register(&app, &receiver.url, Some(&["asset.ready"])).await;
    let (status, _) = app.create(direct_form(&fixtures().path("frame.png"))).await;
    assert_eq!(status, 201);
    receiver.wait_for(1).await;
    assert_eq!(delivery_count(&app, &webhook).await, 1);

    // Kept across a restart with the default (7 days)...
    let (_, data_dir, key) = app.stop().await;
    let app = TestApp::restart(data_dir, key, &[]).await;
    assert_eq!(delivery_count(&app, &webhook).await, 1);
    // ...and gone at the start-up of a node told to keep none.
    let (_, data_dir, key) = app.stop().await;
    let app = TestApp::restart(data_dir, key, &[("ASSETD_WEBHOOK_EVENT_DAYS", "0")]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while delivery_count(&app, &webhook).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the event was not pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = app.get(&format!("/webhooks/{webhook}")).await;
    assert_eq!(status, 200, "the endpoint itself stays");
}

async fn delivery_count(app: &TestApp, webhook: &str) -> usize {
    let (status, deliveries) = app.get(&format!("/webhooks/{webhook}/deliveries")).await;
    assert_eq!(status, 200, "{deliveries}");
    deliveries["data"].as_array().unwrap().len()
}

/// `assetd fsck --repair` fails an asset whose original is gone: that change
/// of status has its event too, written in the same transaction.
#[tokio::test]
async fn an_asset_that_fsck_finds_lost_reports_its_failure() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (_, secret) = register(&app, &receiver.url, Some(&["asset.failed"])).await;
    let (status, created) = app.upload(&fixtures().path("frame.png")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap().to_string();
    lose_stored_file(app.data_dir.path(), &id, "original").await;
    let (ok, said) = cli(&app, &["fsck", "--repair"]).await;
    assert!(ok, "{said}");
    assert!(said.contains("[repaired]"), "{said}");
    receiver.wait_for(1).await;
    let events = receiver.events(&secret);
    assert_eq!(types(&events), ["asset.failed"], "{events:?}");
    assert_eq!(events[0]["data"]["_id"], id.as_str());
    assert_eq!(events[0]["data"]["status"], "failed");
    assert!(
        events[0]["data"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{events:?}"
    );
}
