//! The web console's files (its behaviour is tested in Chromium, by
//! tests/browser/console.test.mjs): served under /console/ from the binary,
//! each file the page names is there, with a policy that lets the page load
//! nothing from another origin.

use crate::common::{assert_error, json_of, TestApp};

/// `src="..."` and `href="..."` values of a page, in order.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').unwrap();
            found.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn the_console_is_served_whole_and_from_this_origin_only() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()["location"], "/console/");

    let page = client
        .get(format!("{}/console/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'self';"), "{policy}");
    assert!(
        !policy.contains("http"),
        "no other origin is allowed: {policy}"
    );
    let html = page.text().await.unwrap();

    // Every file the page loads is served, from here.
    let files: Vec<String> = references(&html)
        .into_iter()
        .filter(|r| !r.starts_with('#') && !r.starts_with("data:"))
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".js")), "{files:?}");
    for file in &files {
        assert!(!file.contains("//"), "the page loads {file} from elsewhere");
        let response = client
            .get(format!("{}/console/{file}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let etag = response.headers()["etag"].clone();
        // Kept by the browser until the server brings another version.
        let again = client
            .get(format!("{}/console/{file}", app.base))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{file}");
    }
    let player = client
        .get(format!("{}/console/vendor/hls.min.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(player.status(), 200, "hls.js is vendored, not fetched");
    assert_eq!(
        player.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    for missing in ["nope.js", "..%2FCargo.toml", "%2E%2E/Cargo.toml"] {
        let (status, body) = json_of(
            client
                .get(format!("{}/console/{missing}", app.base))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(status, &body, 404, "resource_not_exist");
    }
}
