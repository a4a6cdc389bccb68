//! Crash recovery: the server is killed with SIGKILL at the worst moments and
//! started again on the same data dir.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{
    assert_error, direct_form, fixtures, json_of, kill_and_restart, played_seconds,
    wait_until_settled, TestApp, SHORT_LEASE,
};

fn entries(dir: &PathBuf) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn an_upload_cut_by_a_crash_leaves_no_asset_and_no_temporary_file() {
    let app = TestApp::spawn().await;
    let mut file = std::fs::read(fixtures().path("clip.mp4")).unwrap();
    file.extend(vec![0u8; 16 << 20]);
    let (stream, _) = crate::common::begin_raw_upload(&app, &file, Some(1 << 30), 1000).await;

    let app = kill_and_restart(app, &[]).await;
    drop(stream);
    assert_eq!(app.asset_count().await, 0);
    assert!(app.asset_folders().is_empty());
    if crate::common::on_postgres() {
        // Other nodes may share the data dir: the start-up sweep leaves a
        // recent file alone, and takes it once nobody touched it for an hour.
        assert_eq!(app.tmp_files().len(), 1, "{:?}", app.tmp_files());
        for leftover in app.tmp_files() {
            crate::common::age_by_two_hours(&leftover);
        }
        let app = kill_and_restart(app, &[]).await;
        assert!(app.tmp_files().is_empty(), "swept once old");
    } else {
        assert!(app.tmp_files().is_empty(), "swept at start-up");
    }
}

#[tokio::test]
async fn queued_jobs_survive_a_crash_and_finish_by_themselves() {
    let env = [("ASSETD_SYNC_MAX_BYTES", "1000"), SHORT_LEASE];
    let app = TestApp::spawn_with(&env).await;
    let mut ids = Vec::new();
    for name in ["clip.mp4", "tone.mp3", "frame.png"] {
        let (status, created) = app
            .create(direct_form(&fixtures().path(name)).text("enable_thumbnail", "true"))
            .await;
        assert_eq!(status, 201);
        ids.push(created["_id"].as_str().unwrap().to_string());
    }
    let app = kill_and_restart(app, &env).await;
    for id in &ids {
        let asset = wait_until_settled(&app, id).await;
        assert_eq!(
            asset["status"], "ready",
            "no asset stays processing: {asset}"
        );
        assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    }
}

#[tokio::test]
async fn hls_half_written_at_a_crash_is_never_served_and_is_made_again() {
    let env = [SHORT_LEASE];
    let app = TestApp::spawn_with(&env).await;
    let (_, created) = app
        .create(direct_form(&fixtures().path("slow.avi")).text("enable_hls", "true"))
        .await;
    let id = created["_id"].as_str().unwrap().to_string();
    let folder = crate::common::asset_folder(app.data_dir.path(), &id);

    // Wait until the transcode has written part of the stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let partial = loop {
        let found = entries(&folder)
            .into_iter()
            .find(|n| n.starts_with("hls.part-"));
        if let Some(name) = found {
            let dir = folder.join(&name);
            if entries(&dir).iter().any(|n| n.ends_with(".ts")) {
                break dir;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the transcode never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let app = kill_and_restart(app, &env).await;
    let (_, asset) = app.get(&format!("/assets/{id}")).await;
    assert_ne!(
        asset["hls"]["status"], "ready",
        "half a stream is not ready: {asset}"
    );
    assert!(asset["hls"].get("manifest_url").is_none());

    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");
    assert!(!partial.exists(), "the half-written stream was removed");
    assert_eq!(entries(&folder), ["hls", "original"]);
    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    let played = played_seconds(manifest);
    assert!(
        (played - 10.0).abs() < 0.5,
        "the whole stream plays: {played} s"
    );
}

/// Runs `assetd ARGS...` on the app's data dir (as an operator would, while
/// the server runs) and returns what it printed.
fn assetd_command(app: &TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(crate::common::BIN)
        .args(args)
        .envs(crate::common::data_env(app.data_dir.path()))
        .output()
        .expect("run assetd");
    assert!(
        out.status.success(),
        "assetd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until some step of these assets is being made, so that a kill lands
/// in the middle of real media work.
async fn wait_for_running_step(app: &TestApp, ids: &[String]) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        for id in ids {
            let (_, asset) = app.get(&format!("/assets/{id}")).await;
            if asset["hls"]["status"] == "processing"
                || asset["thumbnail"]["status"] == "processing"
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn a_server_killed_again_and_again_mid_job_loses_no_valid_asset() {
    // One attempt: before interruptions were counted apart, the second kill of
    // a running job failed it.
    let env = [
        ("ASSETD_JOB_LEASE_SECS", "1"),
        ("ASSETD_JOB_MAX_ATTEMPTS", "1"),
    ];
    let mut app = TestApp::spawn_with(&env).await;
    let mut ids = Vec::new();
    for name in ["slow.avi", "clip.mp4", "tone.mp3"] {
        let form = direct_form(&fixtures().path(name))
            .text("enable_hls", "true")
            .text("enable_thumbnail", "true");
        let (status, created) = app.create(form).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["_id"].as_str().unwrap().to_string());
    }
    let mut kills_mid_job = 0;
    for _ in 0..12 {
        if wait_for_running_step(&app, &ids).await {
            kills_mid_job += 1;
        }
        app = kill_and_restart(app, &env).await;
    }
    assert!(
        kills_mid_job >= 3,
        "only {kills_mid_job} kills landed mid-job"
    );
    for id in &ids {
        let asset = wait_until_settled(&app, id).await;
        assert_eq!(asset["status"], "ready", "{asset}");
        assert_eq!(asset["hls"]["status"], "ready", "{asset}");
        assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    }
    let listed = assetd_command(&app, &["jobs", "list"]);
    assert_eq!(
        listed.lines().count(),
        1,
        "no job is left, failed or not: {listed}"
    );
}

#[tokio::test]
async fn failed_jobs_are_shown_and_retried_through_the_api_while_the_server_runs() {
    // No interruption allowed: a kill mid-transcode fails the HLS job for real.
    let env = [
        ("ASSETD_JOB_LEASE_SECS", "1"),
        ("ASSETD_JOB_MAX_INTERRUPTIONS", "0"),
    ];
    let app = TestApp::spawn_with(&env).await;
    let form = direct_form(&fixtures().path("slow.avi")).text("enable_hls", "true");
    let (_, created) = app.create(form).await;
    let id = created["_id"].as_str().unwrap().to_string();
    assert!(wait_for_running_step(&app, std::slice::from_ref(&id)).await);
    let app = kill_and_restart(app, &env).await;
    let failed = wait_until_settled(&app, &id).await;
    assert_eq!(failed["hls"]["status"], "error", "{failed}");
    assert!(
        failed["hls"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{failed}"
    );
    let listed = assetd_command(&app, &["jobs", "list"]);
    assert!(
        listed.contains("failed") && listed.contains(&id),
        "{listed}"
    );

    // The account sees the failure in GET /v1.3/jobs; another does not.
    let (status, jobs) = app.get("/jobs").await;
    assert_eq!(status, 200, "{jobs}");
    assert!(
        jobs["counts"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"kind": "hls", "state": "failed", "count": 1})),
        "{jobs}"
    );
    let failed_job = &jobs["failed"][0];
    assert_eq!(failed_job["asset_id"], id.as_str(), "{jobs}");
    assert_eq!(failed_job["kind"], "hls", "{jobs}");
    assert!(
        failed_job["last_error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{jobs}"
    );
    let other = app.key_for("other").await;
    let as_other = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("x-api-key", &other)
    };
    let (_, theirs) = json_of(
        as_other(reqwest::Method::GET, "/jobs")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs, serde_json::json!({"counts": [], "failed": []}));
    let response = as_other(reqwest::Method::POST, &format!("/assets/{id}/retry"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 404, "resource_not_exist");

    // The operator's retry (the console's button): queued again, and done.
    let response = app
        .client
        .post(app.url(&format!("/assets/{id}/retry")))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    let (status, retried) = json_of(response).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(
        retried,
        serde_json::json!({"asset_id": id, "retried": ["hls"]})
    );
    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");
    assert!(asset["hls"].get("error").is_none(), "{asset}");
    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    assert!((played_seconds(manifest) - 10.0).abs() < 0.5);

    let said = assetd_command(&app, &["jobs", "retry", "--all-failed"]);
    assert!(said.contains("0 failed job(s) queued again"), "{said}");
}

/// A delete queues the removal of the asset's files in the transaction that
/// deletes its row. A node that dies right after the commit leaves that job
/// (and the files) behind, as a node without purge workers does here; the
/// next node that runs purges removes them.
#[tokio::test]
async fn a_delete_leaves_a_durable_purge_job_that_the_next_run_finishes() {
    let app = TestApp::spawn_with(&[("ASSETD_PURGE_WORKERS", "0")]).await;
    let (_, created) = app.upload(&fixtures().path("frame.png")).await;
    let id = created["_id"].as_str().unwrap().to_string();
    let folder = crate::common::asset_folder(app.data_dir.path(), &id);
    let (status, _) = app.delete(&format!("/assets/{id}")).await;
    assert_eq!(status, 204);
    let queued = |listing: &str| {
        listing
            .lines()
            .any(|line| line.contains("purge") && line.contains(&id) && line.contains("queued"))
    };
    let listing = assetd_command(&app, &["jobs", "list"]);
    assert!(queued(&listing), "{listing}");

    // What a crash between the commit and the removal leaves: the files.
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("original"), b"the deleted asset's bytes").unwrap();
    let app = kill_and_restart(app, &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while folder.exists() || queued(&assetd_command(&app, &["jobs", "list"])) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge was not finished: {}",
            assetd_command(&app, &["jobs", "list"])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
