//! Stored files in an S3-compatible bucket (`--storage s3`): runs when the
//! suite runs on S3 (`ASSETD_TEST_STORAGE=s3`, as the README's test command
//! does in its third pass); skipped, saying so, otherwise.

use crate::common::{
    bucket_keys, bucket_name, data_env, direct_form, fixtures, played_seconds, s3_server,
    wait_until_settled, TestApp, NO_WORKERS,
};

fn skip_without_s3() -> bool {
    if s3_server().is_some() {
        return false;
    }
    println!("skipped: stored files are in the data dir (set ASSETD_TEST_STORAGE=s3 and ASSETD_TEST_S3_URL)");
    true
}

/// The keys of one asset's objects.
async fn objects_of(app: &TestApp, id: &str) -> Vec<String> {
    let mut keys: Vec<String> = bucket_keys(app.data_dir.path())
        .await
        .into_iter()
        .filter(|key| key.starts_with(&format!("assets/{id}/")))
        .collect();
    keys.sort();
    keys
}

/// A clip uploaded with a thumbnail and HLS, once both are made: what the
/// create answered, and the settled asset.
async fn clip_with_hls_and_thumbnail(app: &TestApp) -> (serde_json::Value, serde_json::Value) {
    let form = direct_form(&fixtures().path("clip.mp4"))
        .text("enable_thumbnail", "true")
        .text("enable_hls", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    let asset = wait_until_settled(app, created["_id"].as_str().unwrap()).await;
    assert_eq!(asset["hls"]["status"], "ready", "{asset}");
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    (created, asset)
}

#[tokio::test]
async fn stored_files_go_to_the_bucket_and_leave_it_with_their_asset() {
    if skip_without_s3() {
        return;
    }
    let app = TestApp::spawn().await;
    let (created, _) = clip_with_hls_and_thumbnail(&app).await;
    let id = created["_id"].as_str().unwrap().to_string();
    let keys = objects_of(&app, &id).await;
    for wanted in ["original", "thumb.jpg", "hls/master.m3u8"] {
        assert!(
            keys.contains(&format!("assets/{id}/{wanted}")),
            "{wanted} in {keys:?}"
        );
    }
    assert!(
        keys.iter().any(|k| k.ends_with(".ts")),
        "segments in {keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.contains(".part")),
        "nothing partial: {keys:?}"
    );

    let (status, _) = app.delete(&format!("/assets/{id}")).await;
    assert_eq!(status, 204);
    assert!(
        objects_of(&app, &id).await.is_empty(),
        "the objects went with the asset"
    );
}

/// Two nodes that share the database and the bucket but no disk: what one
/// takes in, the other processes (fetching the original from the bucket) and
/// serves, and the first serves what the second made.
#[tokio::test]
async fn nodes_that_share_no_disk_process_and_serve_each_others_files() {
    if skip_without_s3() {
        return;
    }
    if crate::common::skip_without_postgres() {
        return;
    }
    let a = TestApp::spawn_with(&NO_WORKERS).await;
    let database = a.database_url();
    let bucket = bucket_name(a.data_dir.path());
    let b = TestApp::spawn_with(&[
        ("ASSETD_DATABASE_URL", database.as_str()),
        ("ASSETD_S3_BUCKET", bucket.as_str()),
    ])
    .await;

    let form = direct_form(&fixtures().path("clip.mp4"))
        .text("enable_thumbnail", "true")
        .text("enable_hls", "true");
    let (status, created) = a.create(form).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap().to_string();
    let asset = wait_until_settled(&a, &id).await;
    assert_eq!(asset["hls"]["status"], "ready", "made by node B: {asset}");
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    assert!(
        crate::common::asset_folder(b.data_dir.path(), &id)
            .join("original")
            .exists(),
        "node B worked on its own copy, fetched from the bucket"
    );

    // Node A serves what node B made, from the bucket.
    let thumbnail = asset["thumbnail"]["representative_url"].as_str().unwrap();
    let response = reqwest::get(thumbnail).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    // Both nodes describe the one object alike, so caches and players may
    // revalidate against either.
    let on_b = format!(
        "{}{}",
        b.base,
        &thumbnail[thumbnail.find("/media/").unwrap()..]
    );
    let from_b = reqwest::get(&on_b).await.unwrap();
    assert_eq!(from_b.status(), 200);
    for header in ["etag", "last-modified"] {
        assert_eq!(
            response.headers()[header],
            from_b.headers()[header],
            "{header}"
        );
    }
    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    let duration = created["duration"].as_f64().unwrap();
    let played = played_seconds(manifest);
    assert!(
        (played - duration).abs() < 0.5,
        "node A serves the whole stream: {played} s of {duration} s"
    );

    // fsck from node A's side sees everything in place.
    let out = std::process::Command::new(crate::common::BIN)
        .arg("fsck")
        .envs(data_env(a.data_dir.path()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn start_up_refuses_a_bucket_it_cannot_write_and_names_it() {
    if skip_without_s3() {
        return;
    }
    let stderr =
        crate::common::refused_start(&[("ASSETD_S3_BUCKET", "no-such-bucket-anywhere")]).await;
    assert!(
        stderr.contains("S3 bucket no-such-bucket-anywhere is not writable"),
        "{stderr}"
    );
}

/// Working copies are trimmed to `ASSETD_SCRATCH_MAX_BYTES`; what was removed
/// is fetched from the bucket again when it is needed.
#[tokio::test]
async fn working_copies_are_trimmed_and_fetched_again_when_needed() {
    if skip_without_s3() {
        return;
    }
    let app = TestApp::spawn_with(&[
        ("ASSETD_SCRATCH_MAX_BYTES", "1"),
        ("ASSETD_SCRATCH_TRIM_SECS", "1"),
    ])
    .await;
    let form = direct_form(&fixtures().path("frame.png")).text("enable_thumbnail", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap().to_string();
    let asset = wait_until_settled(&app, &id).await;
    let folder = crate::common::asset_folder(app.data_dir.path(), &id);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while folder.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the working copy was not trimmed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        objects_of(&app, &id).await.len(),
        2,
        "the bucket keeps both files"
    );
    let thumbnail = asset["thumbnail"]["representative_url"].as_str().unwrap();
    let response = reqwest::get(thumbnail).await.unwrap();
    assert_eq!(response.status(), 200, "fetched again from the bucket");
    assert!(folder.join("thumb.jpg").exists());
}

/// `ASSETD_MEDIA_REDIRECT=true`: segments and thumbnails are answered with a
/// redirect to a presigned URL of their object, which the bucket (one that
/// checks signatures) serves, Range too; playlists stay with assetd, so their
/// relative URIs keep resolving against its signed URL; a player follows it all.
#[tokio::test]
async fn media_redirects_to_presigned_object_urls_that_the_bucket_checks() {
    if skip_without_s3() {
        return;
    }
    let app = TestApp::spawn_with(&[("ASSETD_MEDIA_REDIRECT", "true")]).await;
    let (created, asset) = clip_with_hls_and_thumbnail(&app).await;
    let id = created["_id"].as_str().unwrap().to_string();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    let index = manifest.replace("master.m3u8", "index.m3u8");
    let playlist = no_redirects.get(&index).send().await.unwrap();
    assert_eq!(playlist.status(), 200, "playlists are served by assetd");
    let playlist = playlist.text().await.unwrap();
    let segment = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();

    let local = crate::common::asset_folder(app.data_dir.path(), &id)
        .join("hls")
        .join(segment);
    let bytes = std::fs::read(&local).unwrap();
    let redirected = no_redirects
        .get(manifest.replace("master.m3u8", segment))
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), 307);
    assert_eq!(redirected.headers()["cache-control"], "no-store");
    let location = redirected.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        location.starts_with(&s3_server().unwrap()) && location.contains("X-Amz-Signature="),
        "{location}"
    );
    let from_bucket = reqwest::get(&location).await.unwrap();
    assert_eq!(from_bucket.status(), 200);
    assert_eq!(from_bucket.bytes().await.unwrap(), bytes);
    let part = reqwest::Client::new()
        .get(&location)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), bytes[10..20]);

    // The bucket checks the signature: a URL altered anywhere is refused.
    let tampered = location.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
    let other_key = location.replacen(segment, "seg_99999.ts", 1);
    assert_eq!(reqwest::get(&other_key).await.unwrap().status(), 403);

    let thumbnail = asset["thumbnail"]["representative_url"].as_str().unwrap();
    let response = no_redirects.get(thumbnail).send().await.unwrap();
    assert_eq!(response.status(), 307);
    let followed = reqwest::get(thumbnail).await.unwrap();
    assert_eq!(followed.status(), 200);
    assert_eq!(&followed.bytes().await.unwrap()[..2], b"\xff\xd8", "a JPEG");

    // A player (ffprobe) follows the redirects through the whole stream.
    let duration = created["duration"].as_f64().unwrap();
    let played = played_seconds(manifest);
    assert!(
        (played - duration).abs() < 0.5,
        "played {played} s of {duration} s"
    );
}

#[tokio::test]
async fn media_redirect_without_a_bucket_is_refused_at_start_up() {
    if s3_server().is_some() {
        println!("skipped: runs where stored files are in the data dir");
        return;
    }
    let stderr = crate::common::refused_start(&[("ASSETD_MEDIA_REDIRECT", "true")]).await;
    assert!(stderr.contains("needs --storage s3"), "{stderr}");
}

/// `ASSETD_SCRATCH_DIR`: the working copies and uploads in progress live
/// there, not in the data dir; without S3 it is refused.
#[tokio::test]
async fn working_copies_live_in_the_scratch_dir_when_one_is_set() {
    if s3_server().is_none() {
        let stderr = crate::common::refused_start(&[("ASSETD_SCRATCH_DIR", "/tmp")]).await;
        assert!(stderr.contains("needs --storage s3"), "{stderr}");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let app =
        TestApp::spawn_with(&[("ASSETD_SCRATCH_DIR", scratch.path().to_str().unwrap())]).await;
    let form = direct_form(&fixtures().path("frame.png")).text("enable_thumbnail", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap().to_string();
    let asset = wait_until_settled(&app, &id).await;
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    let folder = crate::common::asset_folder(scratch.path(), &id);
    assert!(folder.join("original").exists() && folder.join("thumb.jpg").exists());
    assert!(scratch.path().join("tmp").is_dir());
    for name in ["assets", "tmp"] {
        assert!(
            !app.data_dir.path().join(name).exists(),
            "nothing of the files in the data dir: {name}"
        );
    }
    assert_eq!(objects_of(&app, &id).await.len(), 2);
}
