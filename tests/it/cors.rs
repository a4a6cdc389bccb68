//! CORS: media URLs are open to pages of any origin (a signed URL is a capability).

use reqwest::header::HeaderMap;
use reqwest::{Method, Response};

use crate::common::TestApp;
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
