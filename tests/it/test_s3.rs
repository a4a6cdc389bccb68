//! Requests to the test S3 server (the README's test command starts Garage,
//! which checks signatures): bucket creation and the listings the tests check,
//! signed with the caller's AWS credentials as any S3 client signs them.
//! Shared by the black-box suite and `tests/bucket.rs`, which includes this file.

use object_store::aws::{AwsAuthorizer, AwsCredential};

/// The test server's credentials: the usual AWS variables, which the test
/// command sets (and passes on to the servers under test).
pub fn credential() -> AwsCredential {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("the S3 tests need {name} (see scripts/test)"))
    };
    AwsCredential {
        key_id: var("AWS_ACCESS_KEY_ID"),
        secret_key: var("AWS_SECRET_ACCESS_KEY"),
        token: None,
    }
}

/// A request to the test server, signed (AWS SigV4, region us-east-1).
pub async fn signed(method: reqwest::Method, url: &str, body: &'static [u8]) -> reqwest::Response {
    let mut request = object_store::client::HttpRequest::new(body.to_vec().into());
    *request.method_mut() = method.clone();
    *request.uri_mut() = url.parse().unwrap();
    let credential = credential();
    AwsAuthorizer::new(&credential, "s3", "us-east-1").authorize(&mut request, None);
    let mut sent = reqwest::Client::new().request(method, url).body(body);
    for (name, value) in request.headers() {
        sent = sent.header(name.as_str(), value.as_bytes());
    }
    sent.send().await.unwrap()
}

/// Makes `bucket` on `server`; one that is already ours is fine.
pub async fn create_bucket(server: &str, bucket: &str) {
    let response = signed(reqwest::Method::PUT, &format!("{server}/{bucket}"), b"").await;
    let status = response.status();
    assert!(
        status.is_success() || status == 409,
        "creating bucket {bucket}: {status} {}",
        response.text().await.unwrap()
    );
}

async fn listing(url: &str) -> String {
    let response = signed(reqwest::Method::GET, url, b"").await;
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.text().await.unwrap()
}

/// Every key in `bucket` on `server`.
pub async fn keys_in(server: &str, bucket: &str) -> Vec<String> {
    listing(&format!("{server}/{bucket}?list-type=2"))
        .await
        .split("<Key>")
        .skip(1)
        .map(|rest| rest.split("</Key>").next().unwrap().to_string())
        .collect()
}

/// How many multipart uploads in `bucket` were begun and neither completed nor aborted.
pub async fn unfinished_uploads_in(server: &str, bucket: &str) -> usize {
    listing(&format!("{server}/{bucket}?uploads"))
        .await
        .matches("<UploadId>")
        .count()
}
