//! The bucket client against a real S3-compatible server: the one the README's
//! test command starts (`ASSETD_TEST_S3_URL`, e.g. `http://127.0.0.1:PORT`).
//! Without it these tests say so and pass, so that `cargo test` on a bare
//! machine works.

use std::sync::Once;
use std::time::Duration;

use assetd::storage::bucket::{Bucket, BucketConfig, PART_BYTES};
use sha2::{Digest, Sha256};

/// A fresh bucket on the test server, or None (printed) when there is none.
async fn fresh_bucket(prefix: &str) -> Option<(Bucket, String, String)> {
    let Ok(server) = std::env::var("ASSETD_TEST_S3_URL") else {
        println!("skipped: no S3-compatible server (set ASSETD_TEST_S3_URL)");
        return None;
    };
    static CREDENTIALS: Once = Once::new();
    CREDENTIALS.call_once(|| {
        // The test server takes any credentials; object_store wants some.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            std::env::set_var("AWS_ACCESS_KEY_ID", "assetd-test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "assetd-test");
        }
    });
    let name = format!("bucket-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{server}/{name}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "creating {name}: {}",
        created.status()
    );
    let bucket = Bucket::new(&BucketConfig {
        bucket: name.clone(),
        endpoint: Some(server.clone()),
        region: "us-east-1".into(),
        prefix: prefix.into(),
        force_path_style: true,
    })
    .unwrap();
    Some((bucket, server, name))
}

#[path = "it/s3_listing.rs"]
mod s3_listing;

/// Every key in the bucket.
async fn keys(server: &str, name: &str) -> Vec<String> {
    s3_listing::keys_in(server, name).await
}

/// Multipart uploads begun and neither completed nor aborted.
async fn unfinished_uploads(server: &str, name: &str) -> usize {
    let listing = reqwest::get(format!("{server}/{name}?uploads"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    listing.matches("<UploadId>").count()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn a_file_of_several_parts_goes_in_and_comes_back_the_same() {
    let Some((bucket, server, name)) = fresh_bucket("assetd").await else {
        return;
    };
    bucket.check_writable().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Two and a half parts of bytes that differ everywhere.
    let bytes: Vec<u8> = (0..PART_BYTES * 5 / 2)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let source = dir.path().join("source");
    std::fs::write(&source, &bytes).unwrap();
    bucket
        .put_file("assets/a1/original", &source)
        .await
        .unwrap();
    assert_eq!(keys(&server, &name).await, ["assetd/assets/a1/original"]);
    assert!(bucket.exists("assets/a1/original").await.unwrap());
    assert!(!bucket.exists("assets/a1/thumb.jpg").await.unwrap());

    let back = dir.path().join("back");
    bucket
        .get_to_file("assets/a1/original", &back)
        .await
        .unwrap();
    assert_eq!(sha256(&std::fs::read(&back).unwrap()), sha256(&bytes));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no partial file is left beside the copy"
    );
    assert_eq!(unfinished_uploads(&server, &name).await, 0);
}

#[tokio::test]
async fn a_put_that_fails_part_way_leaves_no_object_and_no_upload() {
    let Some((bucket, server, name)) = fresh_bucket("").await else {
        return;
    };
    // A directory cannot be read as a file: the put fails after it began.
    let dir = tempfile::tempdir().unwrap();
    let error = bucket
        .put_file("assets/a2/original", dir.path())
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("assets/a2/original"),
        "{error:#}"
    );
    assert!(keys(&server, &name).await.is_empty());
    assert_eq!(
        unfinished_uploads(&server, &name).await,
        0,
        "the upload was aborted"
    );
}

#[tokio::test]
async fn deleting_a_prefix_takes_everything_under_it_and_nothing_else() {
    let Some((bucket, server, name)) = fresh_bucket("p").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::write(&small, b"bytes").unwrap();
    for key in [
        "assets/a3/original",
        "assets/a3/hls/master.m3u8",
        "assets/a3/hls/seg_00001.ts",
        "assets/a30/original",
    ] {
        bucket.put_file(key, &small).await.unwrap();
    }
    let mut names = bucket.list_names("assets").await.unwrap();
    names.sort();
    assert_eq!(names, ["a3", "a30"]);
    assert_eq!(
        bucket
            .names_untouched_for("assets", Duration::ZERO)
            .await
            .unwrap(),
        ["a3", "a30"]
    );
    assert!(
        bucket
            .names_untouched_for("assets", Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty(),
        "just put: touched within the hour"
    );
    assert_eq!(bucket.delete_prefix("assets/a3").await.unwrap(), 3);
    assert_eq!(keys(&server, &name).await, ["p/assets/a30/original"]);
    assert_eq!(
        bucket.delete_prefix("assets/a30/original").await.unwrap(),
        1,
        "a prefix that names one object deletes it"
    );
    assert!(keys(&server, &name).await.is_empty());
    assert_eq!(
        bucket.delete_prefix("assets/a3").await.unwrap(),
        0,
        "again: nothing to do"
    );
    let missing = dir.path().join("missing");
    assert!(bucket
        .get_to_file("assets/a3/original", &missing)
        .await
        .is_err());
    assert!(!missing.exists());
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_is_refused_with_its_name() {
    let Some((_, server, _)) = fresh_bucket("").await else {
        return;
    };
    let bucket = Bucket::new(&BucketConfig {
        bucket: "no-such-bucket-here".into(),
        endpoint: Some(server),
        region: "us-east-1".into(),
        prefix: String::new(),
        force_path_style: true,
    })
    .unwrap();
    let error = bucket.check_writable().await.unwrap_err();
    assert!(
        format!("{error:#}").contains("S3 bucket no-such-bucket-here is not writable"),
        "{error:#}"
    );
}
