use reqwest::multipart::Form;

use crate::common::{assert_error, json_of, TestApp};

async fn post(app: &TestApp, key: &str) -> reqwest::Response {
    // A form the handler refuses (no method): cheap, and it still counts.
    let form = Form::new().text("filename", "x.mp4");
    app.client
        .post(app.url("/assets"))
        .header("x-api-key", key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn uploads_are_limited_per_account_with_headers_on_every_response() {
    let app = TestApp::spawn_with(&[
        ("ASSETD_RATE_LIMIT_PER_MINUTE", "6"),
        ("ASSETD_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    for remaining in [2, 1, 0] {
        let response = post(&app, &app.key).await;
        assert_eq!(response.status(), 400, "the request itself went through");
        assert_eq!(header(&response, "x-ratelimit-limit"), 3);
        assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
        assert!(header(&response, "x-ratelimit-reset") <= 30);
    }
    let response = post(&app, &app.key).await;
    let retry_after = header(&response, "retry-after");
    assert!(
        (1..=10).contains(&retry_after),
        "one token every 10 s: {retry_after}"
    );
    assert_eq!(header(&response, "x-ratelimit-remaining"), 0);
    let (status, body) = json_of(response).await;
    let message = assert_error(status, &body, 429, "too_many_requests");
    assert!(message.contains(&format!("{retry_after} s")), "{message}");

    // Another account has its own bucket; reads are not limited.
    let other = app.key_for("other").await;
    assert_eq!(post(&app, &other).await.status(), 400);
    let (status, _) = app.get("/assets").await;
    assert_eq!(status, 200);
    // A wrong key is refused before it can spend anyone's tokens.
    let (status, body) = json_of(post(&app, "tlk_wrong").await).await;
    assert_error(status, &body, 401, "api_key_invalid");
}

/// On PostgreSQL the buckets are in the database: two nodes share one limit.
#[tokio::test]
async fn on_postgresql_the_limit_holds_for_all_nodes_together() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let limits = [
        ("ASSETD_RATE_LIMIT_PER_MINUTE", "6"),
        ("ASSETD_RATE_LIMIT_BURST", "3"),
    ];
    let a = TestApp::spawn_with(&limits).await;
    let database = a.database_url();
    let mut joining = limits.to_vec();
    joining.push(("ASSETD_DATABASE_URL", &database));
    let b = TestApp::spawn_with(&joining).await;
    for (node, remaining) in [(&a, 2), (&b, 1), (&a, 0)] {
        let response = post(node, &a.key).await;
        assert_eq!(response.status(), 400, "the request itself went through");
        assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
    }
    let response = post(&b, &a.key).await;
    assert!((1..=10).contains(&header(&response, "retry-after")));
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 429, "too_many_requests");
}
