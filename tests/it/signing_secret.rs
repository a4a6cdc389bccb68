//! The key that signs media URLs: kept in the database so that a restart (and
//! every node of a cluster) accepts the URLs handed out before; or given as
//! ASSETD_SIGNING_SECRET; or taken over from the `secret` file of a data dir
//! made by an older version.

use crate::common::{asset_with_thumbnail, thumbnail_url, TestApp};

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The status of a GET of `url` (no API key: the URL is the permission).
async fn status_of(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_media_url_stays_valid_across_a_restart() {
    let app = TestApp::spawn().await;
    let id = asset_with_thumbnail(&app).await;
    let url = thumbnail_url(&app, &id, &[]).await;
    let (_, data_dir, key) = app.stop().await;
    let app = TestApp::restart(data_dir, key, &[]).await;
    // The restarted server listens on another port: the same path, there.
    let path = &url[url.find("/media/").unwrap()..];
    assert_eq!(status_of(&format!("{}{path}", app.base)).await, 200);
}

/// A URL signed by one server, shown to another that has no such asset: 404
/// if the other accepts the signature (it shares the key), 403 if not.
#[tokio::test]
async fn servers_given_the_same_secret_or_secret_file_accept_each_others_urls() {
    let signer = TestApp::spawn_with(&[("ASSETD_SIGNING_SECRET", SECRET)]).await;
    let id = asset_with_thumbnail(&signer).await;
    let url = thumbnail_url(&signer, &id, &[]).await;
    let path = &url[url.find("/media/").unwrap()..];

    let configured = TestApp::spawn_with(&[("ASSETD_SIGNING_SECRET", SECRET)]).await;
    assert_eq!(status_of(&format!("{}{path}", configured.base)).await, 404);

    let old_data_dir = tempfile::tempdir().unwrap();
    std::fs::write(old_data_dir.path().join("secret"), SECRET).unwrap();
    let upgraded = TestApp::restart(old_data_dir, "tlk_test_upgraded".into(), &[]).await;
    assert_eq!(status_of(&format!("{}{path}", upgraded.base)).await, 404);

    let stranger = TestApp::spawn().await;
    assert_eq!(status_of(&format!("{}{path}", stranger.base)).await, 403);
}

#[tokio::test]
async fn a_malformed_secret_stops_start_up_with_a_clear_message() {
    let stderr = crate::common::refused_start(&[("ASSETD_SIGNING_SECRET", "not-hex")]).await;
    assert!(stderr.contains("ASSETD_SIGNING_SECRET"), "{stderr}");
}
