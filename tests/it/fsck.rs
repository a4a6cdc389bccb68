//! `assetd fsck`: run beside a live server, it reports rows without files,
//! outputs without files, folders without rows and stale temporary files;
//! `--repair` fixes them, and leaves alone what changed within the hour.

use std::process::Command;
use std::time::Duration;

use crate::common::{
    age_by_two_hours, bucket_keys, data_env, direct_form, fixtures, lose_stored_file, put_object,
    s3_server, wait_until_settled, TestApp, BIN,
};

/// Runs `assetd fsck ARGS...` on the app's data; its success and what it printed.
fn fsck(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("fsck")
        .args(args)
        .envs(data_env(app.data_dir.path()))
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn fsck_reports_and_repairs_what_disagrees_and_spares_what_is_recent() {
    let app = TestApp::spawn().await;
    let folder_of = |id: &str| crate::common::asset_folder(app.data_dir.path(), id);
    let upload = |name: &'static str| {
        let app = &app;
        async move {
            let form = direct_form(&fixtures().path(name)).text("enable_thumbnail", "true");
            let (status, created) = app.create(form).await;
            assert_eq!(status, 201, "{created}");
            let id = created["_id"].as_str().unwrap().to_string();
            wait_until_settled(app, &id).await;
            id
        }
    };
    let lost_thumbnail = upload("frame.png").await;
    let lost_original = upload("tone.wav").await;
    let healthy = upload("frame.jpg").await;
    lose_stored_file(app.data_dir.path(), &lost_thumbnail, "thumb.jpg").await;
    lose_stored_file(app.data_dir.path(), &lost_original, "original").await;
    let old_orphan = app
        .data_dir
        .path()
        .join("assets/ab/0193aaaaaaaaaaaaaaaaaaaaaaaaaaab");
    std::fs::create_dir_all(&old_orphan).unwrap();
    age_by_two_hours(&old_orphan);
    let recent_orphan = app
        .data_dir
        .path()
        .join("assets/ac/0193aaaaaaaaaaaaaaaaaaaaaaaaaaac");
    std::fs::create_dir_all(&recent_orphan).unwrap();
    // On S3: objects of no asset, put just now (maybe by a node between its
    // put and its row): spared like a recent folder.
    let recent_objects = "0193aaaaaaaaaaaaaaaaaaaaaaaaaaad";
    put_object(
        app.data_dir.path(),
        &format!("assets/{recent_objects}/original"),
    )
    .await;
    let stale_part = app.data_dir.path().join("tmp/0123.part");
    std::fs::write(&stale_part, b"half an upload").unwrap();
    age_by_two_hours(&stale_part);

    let (clean, report) = fsck(&app, &[]);
    assert!(!clean, "problems make fsck fail: {report}");
    for expected in [
        format!("asset {lost_thumbnail}: thumbnail ready, but its output is missing"),
        format!("asset {lost_original}: ready, but its file is missing"),
        "0193aaaaaaaaaaaaaaaaaaaaaaaaaaab: no asset row".to_string(),
        "tmp/0123.part".to_string(),
        "4 problem(s) found, 0 repaired".to_string(),
    ] {
        assert!(report.contains(&expected), "{expected:?} in {report}");
    }
    assert!(!report.contains(&healthy), "{report}");
    assert!(
        !report.contains("aaaac"),
        "a recent folder may be an upload in flight: {report}"
    );
    assert!(!report.contains(recent_objects), "{report}");
    assert!(
        old_orphan.exists() && stale_part.exists(),
        "a report changes nothing"
    );

    let (repaired, report) = fsck(&app, &["--repair"]);
    assert!(repaired, "{report}");
    assert!(
        report.contains("4 problem(s) found, 4 repaired"),
        "{report}"
    );
    assert!(!old_orphan.exists() && !stale_part.exists());
    assert!(recent_orphan.exists());
    if s3_server().is_some() {
        let keys = bucket_keys(app.data_dir.path()).await;
        assert!(keys.iter().any(|k| k.contains(recent_objects)), "{keys:?}");
    }
    let (_, lost) = app.get(&format!("/assets/{lost_original}")).await;
    assert_eq!(lost["status"], "failed", "{lost}");
    assert_eq!(
        lost["error"]["message"],
        "The stored file is missing; upload it again."
    );
    // The server's worker makes the lost thumbnail again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, asset) = app.get(&format!("/assets/{lost_thumbnail}")).await;
        if asset["thumbnail"]["status"] == "ready"
            && folder_of(&lost_thumbnail).join("thumb.jpg").exists()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not made again: {asset}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (clean, report) = fsck(&app, &[]);
    assert!(clean, "{report}");
    assert!(report.contains("0 problem(s) found"), "{report}");
}
