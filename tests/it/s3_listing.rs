//! The keys in a bucket of the test S3 server, read with the server's own
//! listing (unsigned: the test server takes any request). Shared by the
//! black-box suite and `tests/bucket.rs`, which includes this file.

/// Every key in `bucket` on `server`.
pub async fn keys_in(server: &str, bucket: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{server}/{bucket}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .map(|rest| rest.split("</Key>").next().unwrap().to_string())
        .collect()
}
