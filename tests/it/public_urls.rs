//! The absolute URLs an answer hands out must be ones its client can open:
//! from --public-url, else from the request's Host, and from the
//! X-Forwarded-* / Forwarded headers only behind a proxy the operator trusts.

use crate::common::{asset_with_thumbnail, thumbnail_url, TestApp};

fn port_of(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn bound_to_all_interfaces_urls_follow_the_host_the_client_called() {
    let app = TestApp::spawn_with(&[("ASSETD_BIND", "0.0.0.0:0")]).await;
    let port = port_of(&app);
    let id = asset_with_thumbnail(&app).await;

    let url = thumbnail_url(&app, &id, &[]).await;
    assert!(
        !url.contains("0.0.0.0"),
        "an unspecified address is no URL to hand out: {url}"
    );
    let called = app.base.clone();
    let via_loopback = thumbnail_url(&app, &id, &[("host", &format!("127.0.0.1:{port}"))]).await;
    assert!(
        via_loopback.starts_with(&format!("{called}/media/")),
        "{via_loopback}"
    );
    let response = reqwest::get(&via_loopback).await.unwrap();
    assert_eq!(response.status(), 200, "the URL opens");

    let named = thumbnail_url(
        &app,
        &id,
        &[("host", &format!("assets.example.test:{port}"))],
    )
    .await;
    assert!(
        named.starts_with(&format!("http://assets.example.test:{port}/media/")),
        "{named}"
    );

    // Not behind a trusted proxy: forwarding headers are anyone's to send.
    let forged = thumbnail_url(
        &app,
        &id,
        &[
            ("host", &format!("127.0.0.1:{port}")),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "proto=https;host=evil.example"),
        ],
    )
    .await;
    assert!(forged.starts_with(&format!("{called}/media/")), "{forged}");

    // A Host that is not a bare authority is not copied into URLs.
    let smuggled = thumbnail_url(&app, &id, &[("host", "evil.example/x?")]).await;
    assert!(!smuggled.contains("evil"), "{smuggled}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_urls_follow_the_forwarded_headers() {
    let app = TestApp::spawn_with(&[("ASSETD_TRUST_PROXY", "true")]).await;
    let id = asset_with_thumbnail(&app).await;
    let url = thumbnail_url(
        &app,
        &id,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "media.example.test"),
        ],
    )
    .await;
    assert!(
        url.starts_with("https://media.example.test/media/"),
        "{url}"
    );
    let url = thumbnail_url(
        &app,
        &id,
        &[(
            "forwarded",
            "for=10.0.0.1;proto=https;host=cdn.example.test:8443",
        )],
    )
    .await;
    assert!(
        url.starts_with("https://cdn.example.test:8443/media/"),
        "{url}"
    );
    // Without forwarding headers the Host still serves.
    let url = thumbnail_url(&app, &id, &[]).await;
    assert!(url.starts_with(&format!("{}/media/", app.base)), "{url}");
}

#[tokio::test]
async fn a_configured_public_url_wins() {
    let app = TestApp::spawn_with(&[
        ("ASSETD_PUBLIC_URL", "https://assets.example.test/base/"),
        ("ASSETD_TRUST_PROXY", "true"),
    ])
    .await;
    let id = asset_with_thumbnail(&app).await;
    let url = thumbnail_url(
        &app,
        &id,
        &[
            ("host", "other.example"),
            ("x-forwarded-host", "proxy.example"),
        ],
    )
    .await;
    assert!(
        url.starts_with("https://assets.example.test/base/media/"),
        "{url}"
    );
}
