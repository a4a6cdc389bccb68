use std::process::Command;

use crate::common::{
    age_by_two_hours, assert_error, data_env, fixtures, json_of, on_postgres, TestApp, BIN,
    MEDIA_BIN,
};

#[tokio::test]
async fn health_answers_and_every_response_has_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers()["x-request-id"].is_empty());

    let response = app
        .client
        .get(app.url("/assets"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "trace-me-42",
        "a client's request id is kept"
    );

    let (status, body) = json_of(
        app.client
            .get(app.url("/nothing-here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 404, "resource_not_exist");
    let response = app
        .client
        .patch(app.url("/assets"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 405, "method_not_allowed");
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_data_survives_a_restart() {
    let app = TestApp::spawn().await;
    let (_, created) = app.upload(&fixtures().path("tone.wav")).await;
    let (code, data_dir, key) = app.stop().await;
    assert_eq!(code, Some(0));

    let app = TestApp::restart(data_dir, key, &[]).await;
    let (status, body) = app
        .get(&format!("/assets/{}", created["_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, created);
}

#[tokio::test]
async fn start_up_sweeps_temporary_files_and_orphan_folders() {
    let app = TestApp::spawn().await;
    let (_, kept) = app.upload(&fixtures().path("frame.png")).await;
    let (_, data_dir, key) = app.stop().await;

    // What a crash could leave: a half-written upload, and a folder whose row
    // never got written; long ago, and just now.
    let orphan = |name: &str| {
        let folder = data_dir.path().join("assets/ab").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("original"), b"bytes of no asset").unwrap();
        folder
    };
    let old_part = data_dir.path().join("tmp/0123.part");
    std::fs::write(&old_part, b"half an upload").unwrap();
    age_by_two_hours(&old_part);
    let old_orphan = orphan("0193aaaaaaaaaaaaaaaaaaaaaaaaaaab");
    age_by_two_hours(&old_orphan);
    let new_part = data_dir.path().join("tmp/4567.part");
    std::fs::write(&new_part, b"half an upload").unwrap();
    let new_orphan = orphan("0193aaaaaaaaaaaaaaaaaaaaaaaaaaac");

    let app = TestApp::restart(data_dir, key, &[]).await;
    assert!(
        !old_part.exists() && !old_orphan.exists(),
        "old leftovers are swept"
    );
    if on_postgres() {
        // Other nodes may share the data dir: what changed within the hour may
        // be an upload of theirs between publishing its file and its row.
        assert!(
            new_part.exists() && new_orphan.exists(),
            "recent files are left alone"
        );
    } else {
        // The only server on its SQLite data dir sweeps everything.
        assert!(app.tmp_files().is_empty());
        assert!(!new_orphan.exists(), "the orphan folder must be swept");
        let folders = app.asset_folders();
        assert_eq!(folders.len(), 1);
        assert!(folders[0].ends_with(kept["_id"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn keys_can_be_listed_and_revoked_while_the_server_runs() {
    // The server remembers a key's account for ASSETD_KEY_CACHE_SECS: a
    // revoked key stops working within that.
    let app = TestApp::spawn_with(&[("ASSETD_KEY_CACHE_SECS", "1")]).await;
    let key = app.key_for("ops").await;
    let ok = app
        .client
        .get(app.url("/assets"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let data_dir = app.data_dir.path();
    let list = Command::new(BIN)
        .args(["keys", "list"])
        .envs(data_env(data_dir))
        .output()
        .unwrap();
    assert!(list.status.success());
    let listing = String::from_utf8(list.stdout).unwrap();
    assert!(
        listing.contains("ops") && listing.contains("default"),
        "{listing}"
    );
    assert!(!listing.contains(&key), "a key is never shown again");

    let revoke = Command::new(BIN)
        .args(["keys", "revoke", &key])
        .envs(data_env(data_dir))
        .output()
        .unwrap();
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    let (status, body) = loop {
        let answer = json_of(
            app.client
                .get(app.url("/assets"))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if answer.0 != 200 || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_error(status, &body, 401, "api_key_invalid");

    let again = Command::new(BIN)
        .args(["keys", "revoke", &key])
        .envs(data_env(data_dir))
        .output()
        .unwrap();
    assert!(!again.status.success(), "revoking twice is an error");
}

/// A raw upload of `fixture` with all but its last 1000 bytes sent.
async fn begin_upload(app: &TestApp, fixture: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    crate::common::begin_raw_upload(
        app,
        &std::fs::read(fixtures().path(fixture)).unwrap(),
        None,
        1000,
    )
    .await
}

#[tokio::test]
async fn an_upload_in_flight_at_sigterm_finishes_before_the_server_stops() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let (mut stream, rest) = begin_upload(&app, "clip.mp4").await;
    crate::common::signal(app.pid(), "TERM");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stream.write_all(&rest).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"status\":\"ready\""), "{response}");
    let (code, data_dir, key) = app.stop().await;
    assert_eq!(code, Some(0));

    let app = TestApp::restart(data_dir, key, &[]).await;
    assert_eq!(
        app.asset_count().await,
        1,
        "the upload that finished during shutdown is kept"
    );
}

#[tokio::test]
async fn an_upload_still_unfinished_at_the_shutdown_timeout_leaves_nothing() {
    let app = TestApp::spawn_with(&[("ASSETD_SHUTDOWN_TIMEOUT_SECS", "1")]).await;
    let (stream, _rest) = begin_upload(&app, "clip.mp4").await;
    let started = std::time::Instant::now();
    let (code, data_dir, key) = app.stop().await;
    assert_eq!(code, Some(0));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(stream);
    let leftovers: Vec<_> = std::fs::read_dir(data_dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(
        leftovers.is_empty(),
        "the cut-off upload's temporary file must be removed on the way out"
    );

    let app = TestApp::restart(data_dir, key, &[]).await;
    assert_eq!(
        app.asset_count().await,
        0,
        "no partial file became an asset"
    );
    assert!(app.asset_folders().is_empty());
}

/// An upgrade in place replaces the binary files under a running server (and
/// a rebuild does under a test run). The server must keep starting its media
/// children from the program it opened at start-up, or every small upload is
/// answered `processing` instead of `ready`.
#[tokio::test]
async fn media_work_goes_on_after_the_binary_files_are_replaced_under_the_server() {
    let install = tempfile::tempdir().unwrap();
    let copy = install.path().join("assetd");
    let media = install.path().join("assetd-media");
    std::fs::copy(BIN, &copy).unwrap();
    std::fs::copy(MEDIA_BIN, &media).unwrap();
    let app = TestApp::spawn_binary(&copy).await;
    std::fs::remove_file(&copy).unwrap();
    // What an upgrade leaves at the old path: another program (one that fails).
    std::fs::remove_file(&media).unwrap();
    std::fs::write(&media, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&media, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (status, body) = app.upload(&fixtures().path("clip.mp4")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
}

#[tokio::test]
async fn a_server_without_its_media_program_refuses_to_start_and_says_where_it_looked() {
    let install = tempfile::tempdir().unwrap();
    let copy = install.path().join("assetd");
    std::fs::copy(BIN, &copy).unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(&copy)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("ASSETD_DATA_DIR", data.path())
        .env("ASSETD_API_KEY", "tlk_refused_start")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&install.path().join("assetd-media").display().to_string()),
        "{said}"
    );
}
