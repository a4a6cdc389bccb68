//! CORS: media URLs are open to pages of any origin (a signed URL is a
//! capability); the API is open only to the origins of `ASSETD_CORS_ORIGINS`.

use reqwest::header::HeaderMap;
use reqwest::{Method, Response};

use crate::common::{refused_start, TestApp};
use crate::media_steps::upload_with_steps;

const PAGE: &str = "http://page.example:5173";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("", |v| v.to_str().expect("ASCII header"))
}

/// The comma-separated names of a header like `access-control-expose-headers`, lower-cased.
fn names(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

#[track_caller]
fn assert_lists(headers: &HeaderMap, name: &str, wanted: &[&str]) {
    let listed = names(headers, name);
    for want in wanted {
        assert!(
            listed.iter().any(|n| n == want),
            "{name} lacks {want}: {headers:?}"
        );
    }
}

async fn preflight(url: &str, origin: &str, method: &str, request_headers: &str) -> Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", request_headers)
        .send()
        .await
        .unwrap()
}

/// The URL with its signature's first character changed.
fn tampered(url: &str) -> String {
    let parts: Vec<&str> = url.rsplitn(4, '/').collect(); // [file, signature, expires, prefix]
    let flipped = if parts[1].starts_with('0') { "1" } else { "0" };
    format!(
        "{}/{}/{flipped}{}/{}",
        parts[3],
        parts[2],
        &parts[1][1..],
        parts[0]
    )
}

#[tokio::test]
async fn media_urls_are_open_to_pages_of_any_origin() {
    let app = TestApp::spawn().await;
    let asset = upload_with_steps(&app, "clip.mp4").await;
    let manifest = asset["hls"]["manifest_url"].as_str().unwrap();
    let thumb = asset["thumbnail"]["representative_url"].as_str().unwrap();

    // A preflight needs no valid signature: browsers send no credentials on it.
    for url in [manifest.to_string(), tampered(manifest)] {
        let response = preflight(&url, PAGE, "GET", "range").await;
        assert_eq!(response.status(), 200, "{url}");
        let headers = response.headers();
        assert_eq!(header(headers, "access-control-allow-origin"), "*");
        assert_lists(headers, "access-control-allow-methods", &["get", "head"]);
        assert_lists(headers, "access-control-allow-headers", &["range"]);
    }
    let response = preflight(thumb, PAGE, "GET", "if-none-match,if-modified-since").await;
    assert_lists(
        response.headers(),
        "access-control-allow-headers",
        &["range", "if-none-match", "if-modified-since"],
    );

    let client = reqwest::Client::new();
    let response = client
        .get(thumb)
        .header("origin", PAGE)
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), "*");
    assert_lists(
        headers,
        "access-control-expose-headers",
        &["content-length", "content-range", "accept-ranges", "etag"],
    );
    let response = client
        .head(manifest)
        .header("origin", PAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        "*"
    );

    // The GET itself still checks the signature; its refusal is readable by the page.
    let response = client
        .get(tampered(thumb))
        .header("origin", PAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        "*"
    );
    app.delete(&format!("/assets/{}", asset["_id"].as_str().unwrap()))
        .await;
    let response = client
        .get(thumb)
        .header("origin", PAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        "*"
    );
}

#[tokio::test]
async fn the_api_is_closed_to_browsers_by_default() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/assets"))
        .header("x-api-key", &app.key)
        .header("origin", PAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_no_cors(&response, "API, no origins configured");
    let response = preflight(&app.url("/assets"), PAGE, "GET", "x-api-key").await;
    assert_no_cors(&response, "API, no origins configured");
}

#[tokio::test]
async fn the_api_is_open_to_the_configured_origins_only() {
    let app = TestApp::spawn_with(&[(
        "ASSETD_CORS_ORIGINS",
        "http://localhost:3000, https://App.Example.com",
    )])
    .await;
    let listed = "https://app.example.com";

    let response = preflight(
        &app.url("/assets"),
        listed,
        "POST",
        "x-api-key,content-type",
    )
    .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), listed);
    assert_lists(
        headers,
        "access-control-allow-methods",
        &["get", "post", "put", "patch", "delete"],
    );
    assert_lists(
        headers,
        "access-control-allow-headers",
        &["x-api-key", "content-type"],
    );

    for origin in [listed, "http://localhost:3000"] {
        let response = app
            .client
            .get(app.url("/assets"))
            .header("x-api-key", &app.key)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(header(headers, "access-control-allow-origin"), origin);
        assert_lists(headers, "vary", &["origin"]);
        assert_lists(
            headers,
            "access-control-expose-headers",
            &[
                "x-request-id",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "retry-after",
            ],
        );
    }

    // Another origin, or a port of a listed host that is not listed, gets nothing.
    for origin in ["https://evil.example", "http://localhost:3001"] {
        let response = app
            .client
            .get(app.url("/assets"))
            .header("x-api-key", &app.key)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_no_cors(&response, origin);
        let response = preflight(&app.url("/assets"), origin, "GET", "x-api-key").await;
        assert_no_cors(&response, origin);
    }
}

#[tokio::test]
async fn an_invalid_origin_stops_start_up_with_a_clear_message() {
    let stderr = refused_start(&[(
        "ASSETD_CORS_ORIGINS",
        "http://localhost:3000,localhost:3000",
    )])
    .await;
    assert!(
        stderr.contains("--cors-origins") && stderr.contains("`localhost:3000` is not an origin"),
        "{stderr}"
    );
}

/// The answer carries no CORS permission: a page on another origin cannot read it.
#[track_caller]
fn assert_no_cors(response: &reqwest::Response, context: &str) {
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{context}: {:?}",
        response.headers()
    );
}
