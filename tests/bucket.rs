//! The bucket client against a real S3-compatible server: the one the README's
//! test command starts (`ASSETD_TEST_S3_URL`, e.g. `http://127.0.0.1:PORT`,
//! with the AWS variables holding its credentials).
//! Without it these tests say so and pass, so that `cargo test` on a bare
//! machine works.

use std::time::Duration;

use assetd::storage::bucket::{Bucket, BucketConfig, PART_BYTES};
use sha2::{Digest, Sha256};

/// A fresh bucket on the test server, or None (printed) when there is none.
async fn fresh_bucket(prefix: &str) -> Option<(Bucket, String, String)> {
    let Ok(server) = std::env::var("ASSETD_TEST_S3_URL") else {
        println!("skipped: no S3-compatible server (set ASSETD_TEST_S3_URL)");
        return None;
    };
    let name = format!("bucket-{}", uuid::Uuid::new_v4().simple());
    test_s3::create_bucket(&server, &name).await;
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

#[path = "it/test_s3.rs"]
mod test_s3;

/// Every key in the bucket.
async fn keys(server: &str, name: &str) -> Vec<String> {
    test_s3::keys_in(server, name).await
}

/// Multipart uploads begun and neither completed nor aborted.
async fn unfinished_uploads(server: &str, name: &str) -> usize {
    test_s3::unfinished_uploads_in(server, name).await
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

#[tokio::test]
async fn a_streaming_put_dropped_before_its_end_leaves_no_object_and_no_upload() {
    let Some((bucket, server, name)) = fresh_bucket("s").await else {
        return;
    };
    let mut put = bucket.begin_put("assets/a4/original");
    // More than a part, so that parts were uploaded before the drop.
    for _ in 0..3 {
        put.write(bytes::Bytes::from(vec![1u8; PART_BYTES / 2]))
            .await
            .unwrap();
    }
    drop(put);
    // The put's task may still be creating the upload it then aborts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while unfinished_uploads(&server, &name).await > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(unfinished_uploads(&server, &name).await, 0, "aborted");
    assert!(keys(&server, &name).await.is_empty());

    // Finished, it is there; its guard deletes it again unless kept.
    let mut put = bucket.begin_put("assets/a5/original");
    put.write(bytes::Bytes::from_static(b"bytes"))
        .await
        .unwrap();
    let object = put.finish().await.unwrap();
    assert_eq!(keys(&server, &name).await, ["s/assets/a5/original"]);
    drop(object);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !keys(&server, &name).await.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(keys(&server, &name).await.is_empty(), "not kept: deleted");

    let mut put = bucket.begin_put("assets/a6/original");
    put.write(bytes::Bytes::from_static(b"bytes"))
        .await
        .unwrap();
    put.finish().await.unwrap().keep();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(keys(&server, &name).await, ["s/assets/a6/original"]);
}

#[tokio::test]
async fn stale_multipart_uploads_are_listed_by_age_and_aborted() {
    let Some((bucket, server, name)) = fresh_bucket("m").await else {
        return;
    };
    // A node that stops mid-upload neither completes nor aborts it: a put
    // whose writer is never dropped stands for one.
    let mut put = bucket.begin_put("assets/a7/original");
    // Over one part: a multipart upload (a smaller file is put at its end).
    put.write(bytes::Bytes::from(vec![1u8; PART_BYTES + 1]))
        .await
        .unwrap();
    std::mem::forget(put);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while unfinished_uploads(&server, &name).await == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(unfinished_uploads(&server, &name).await, 1);

    assert!(
        bucket
            .stale_multipart_uploads("assets", Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty(),
        "begun just now: not stale within the hour"
    );
    assert!(bucket
        .stale_multipart_uploads("other", Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let stale = bucket
        .stale_multipart_uploads("assets", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].key, "assets/a7/original", "relative to the prefix");
    bucket.abort_multipart(&stale[0]).await.unwrap();
    bucket.abort_multipart(&stale[0]).await.unwrap();
    assert_eq!(unfinished_uploads(&server, &name).await, 0);
    assert!(keys(&server, &name).await.is_empty());
}
