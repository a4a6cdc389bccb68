//! Indexes, indexed assets, and the deletes their references guard.

use serde_json::{json, Value};

use crate::common::{assert_error, direct_form, fixtures, json_of, TestApp};

impl TestApp {
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        self.send_json_as(&self.key, method, path, body).await
    }

    pub async fn send_json_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let request = self
            .client
            .request(method, self.url(path))
            .header("x-api-key", key)
            .json(&body);
        json_of(request.send().await.unwrap()).await
    }

    pub async fn new_index(&self, name: &str) -> String {
        let body = json!({"index_name": name, "models": [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]});
        let (status, created) = self
            .send_json(reqwest::Method::POST, "/indexes", body)
            .await;
        assert_eq!(status, 201, "{created}");
        created["_id"].as_str().unwrap().to_string()
    }

    pub async fn new_asset(&self, fixture: &str) -> String {
        let (status, body) = self.upload(&fixtures().path(fixture)).await;
        assert_eq!(status, 201, "{body}");
        body["_id"].as_str().unwrap().to_string()
    }

    pub async fn reference(&self, index: &str, asset: &str) -> (u16, Value) {
        self.send_json(
            reqwest::Method::POST,
            &format!("/indexes/{index}/indexed-assets"),
            json!({"asset_id": asset}),
        )
        .await
    }
}

#[tokio::test]
async fn indexes_can_be_created_listed_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let first = app.new_index("Holidays").await;
    let second = app.new_index("Work clips").await;

    let (status, index) = app.get(&format!("/indexes/{first}")).await;
    assert_eq!(status, 200);
    assert_eq!(index["index_name"], "Holidays");
    assert_eq!(index["models"][0]["model_name"], "marengo3.0");
    assert_eq!(
        index["models"][0]["model_options"],
        json!(["visual", "audio"])
    );
    assert_eq!(index["addons"], json!([]));
    assert_eq!(index["video_count"], 0);

    let (_, listed) = app.get("/indexes").await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [second.as_str(), first.as_str()],
        "newest first by default"
    );
    assert_eq!(listed["page_info"]["total_results"], 2);
    let (_, listed) = app.get("/indexes?sort_option=asc&page_limit=1").await;
    assert_eq!(listed["data"][0]["_id"], first.as_str());
    assert_eq!(listed["page_info"]["total_page"], 2);
    let (_, listed) = app.get("/indexes?index_name=work").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let (status, _) = app
        .send_json(
            reqwest::Method::PUT,
            &format!("/indexes/{first}"),
            json!({"index_name": "Summer"}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, index) = app.get(&format!("/indexes/{first}")).await;
    assert_eq!(index["index_name"], "Summer");

    let (status, _) = app.delete(&format!("/indexes/{first}")).await;
    assert_eq!(status, 204);
    let (status, body) = app.get(&format!("/indexes/{first}")).await;
    assert_error(status, &body, 404, "resource_not_exist");
}

#[tokio::test]
async fn bad_index_requests_are_refused() {
    let app = TestApp::spawn().await;
    let post = reqwest::Method::POST;
    let (status, body) = app
        .send_json(
            post.clone(),
            "/indexes",
            json!({"models": [{"model_name": "m", "model_options": []}]}),
        )
        .await;
    assert_error(status, &body, 400, "parameter_not_provided");
    let (status, body) = app
        .send_json(post.clone(), "/indexes", json!({"index_name": "x"}))
        .await;
    assert_error(status, &body, 400, "parameter_not_provided");
    let (status, body) = app
        .send_json(
            post.clone(),
            "/indexes",
            json!({"index_name": "x", "models": []}),
        )
        .await;
    assert_error(status, &body, 400, "parameter_invalid");
    let (status, body) = app
        .send_json(
            post.clone(),
            "/indexes",
            json!({"index_name": " ", "models": [{"model_name": "m"}]}),
        )
        .await;
    assert_error(status, &body, 400, "parameter_invalid");
    let response = app
        .client
        .post(app.url("/indexes"))
        .header("x-api-key", &app.key)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 400, "parameter_invalid");
    let (status, body) = app.get("/indexes?sort_by=size").await;
    assert_error(status, &body, 400, "parameter_unknown");

    // Another account's index does not exist for this one.
    let index = app.new_index("mine").await;
    let other = app.key_for("other").await;
    let response = app
        .client
        .get(app.url(&format!("/indexes/{index}")))
        .header("x-api-key", &other)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, body) = app
        .send_json_as(
            &other,
            reqwest::Method::DELETE,
            &format!("/indexes/{index}"),
            json!({}),
        )
        .await;
    assert_error(status, &body, 404, "resource_not_exist");
}

#[tokio::test]
async fn indexed_assets_reference_ready_assets_of_the_same_account() {
    let app = TestApp::spawn_with(&[
        ("ASSETD_SYNC_MAX_BYTES", "40000"),
        ("ASSETD_PROBE_WORKERS", "0"),
    ])
    .await;
    let index = app.new_index("refs").await;
    let video = app.new_asset("clip.mp4").await;

    let (status, created) = app.reference(&index, &video).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["asset_id"], video.as_str());
    let indexed = created["_id"].as_str().unwrap().to_string();

    let (status, one) = app
        .get(&format!("/indexes/{index}/indexed-assets/{indexed}"))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["status"], "ready");
    assert_eq!(one["asset_id"], video.as_str());
    assert_eq!(one["system_metadata"]["filename"], "clip.mp4");
    assert_eq!(one["system_metadata"]["width"], 320);
    assert!((one["system_metadata"]["duration"].as_f64().unwrap() - 2.0).abs() < 0.1);
    let (_, listed) = app.get(&format!("/indexes/{index}/indexed-assets")).await;
    assert_eq!(listed["data"][0]["_id"], indexed.as_str());
    let (_, by_asset) = app.get(&format!("/assets/{video}/indexed-assets")).await;
    assert_eq!(by_asset["data"][0]["_id"], indexed.as_str());
    assert_eq!(
        by_asset["data"][0]["index"],
        json!({"_id": index, "name": "refs"})
    );
    let (_, index_now) = app.get(&format!("/indexes/{index}")).await;
    assert_eq!(index_now["video_count"], 1);

    // Not ready: a large file left to a probe job that does not run here.
    let processing = app.new_asset("slow.avi").await;
    let (status, body) = app.reference(&index, &processing).await;
    let message = assert_error(status, &body, 400, "parameter_invalid");
    assert!(
        message.contains("asset_id") && message.contains("processing"),
        "{message}"
    );
    let (_, failed) = app.upload(&fixtures().path("truncated.mp4")).await;
    let (status, body) = app.reference(&index, failed["_id"].as_str().unwrap()).await;
    assert_error(status, &body, 400, "parameter_invalid");
    let (status, body) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/indexes/{index}/indexed-assets"),
            json!({}),
        )
        .await;
    assert_error(status, &body, 400, "parameter_not_provided");

    // Another account's asset, an unknown index, a deleted index.
    let other = app.key_for("other").await;
    let (_, theirs) = app
        .create_as(&other, direct_form(&fixtures().path("frame.png")))
        .await;
    let (status, body) = app.reference(&index, theirs["_id"].as_str().unwrap()).await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, body) = app
        .reference("0193aaaaaaaaaaaaaaaaaaaaaaaaaaaa", &video)
        .await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, _) = app
        .delete(&format!("/indexes/{index}/indexed-assets/{indexed}"))
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .get(&format!("/indexes/{index}/indexed-assets/{indexed}"))
        .await;
    assert_error(status, &body, 404, "resource_not_exist");
    app.delete(&format!("/indexes/{index}")).await;
    let (status, body) = app.reference(&index, &video).await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (status, body) = app.get(&format!("/indexes/{index}/indexed-assets")).await;
    assert_error(status, &body, 404, "resource_not_exist");
}

#[tokio::test]
async fn a_referenced_asset_is_deleted_only_when_forced() {
    let app = TestApp::spawn().await;
    let asset = app.new_asset("tone.mp3").await;
    let (a, b) = (app.new_index("a").await, app.new_index("b").await);
    app.reference(&a, &asset).await;
    app.reference(&b, &asset).await;

    for query in ["", "?force=false"] {
        let (status, body) = app.delete(&format!("/assets/{asset}{query}")).await;
        let message = assert_error(status, &body, 409, "asset_in_use");
        assert!(
            message.contains('2'),
            "says how many reference it: {message}"
        );
    }
    let (status, _) = app.get(&format!("/assets/{asset}")).await;
    assert_eq!(status, 200, "nothing changed");
    assert_eq!(app.asset_folders().len(), 1);
    let (_, refs) = app.get(&format!("/assets/{asset}/indexed-assets")).await;
    assert_eq!(refs["page_info"]["total_results"], 2);

    let (status, _) = app.delete(&format!("/assets/{asset}?force=true")).await;
    assert_eq!(status, 204);
    assert!(app.asset_folders().is_empty());
    for index in [&a, &b] {
        let (status, listed) = app.get(&format!("/indexes/{index}/indexed-assets")).await;
        assert_eq!(status, 200, "the index stays");
        assert_eq!(
            listed["data"],
            json!([]),
            "its references to the asset went with it"
        );
    }

    // Deleting an index releases its references.
    let kept = app.new_asset("frame.png").await;
    app.reference(&a, &kept).await;
    assert_eq!(app.delete(&format!("/assets/{kept}")).await.0, 409);
    app.delete(&format!("/indexes/{a}")).await;
    assert_eq!(app.delete(&format!("/assets/{kept}")).await.0, 204);
}

#[tokio::test]
async fn a_delete_and_a_reference_racing_never_both_win() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let index = app.new_index("race").await;
    let (mut referenced, mut deleted) = (0, 0);
    for _ in 0..30 {
        let asset = app.new_asset("frame.png").await;
        let (reference, delete) = tokio::join!(
            {
                let (app, index, asset) = (app.clone(), index.clone(), asset.clone());
                async move { app.reference(&index, &asset).await }
            },
            {
                let (app, asset) = (app.clone(), asset.clone());
                async move { app.delete(&format!("/assets/{asset}")).await }
            },
        );
        match (reference.0, delete.0) {
            (201, 409) => {
                referenced += 1;
                let (status, _) = app.get(&format!("/assets/{asset}")).await;
                assert_eq!(status, 200, "a referenced asset stays");
            }
            (404, 204) => {
                deleted += 1;
                let (_, refs) = app
                    .get(&format!("/indexes/{index}/indexed-assets?page_limit=50"))
                    .await;
                let dangling = refs["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["asset_id"] == asset.as_str());
                assert!(!dangling, "no indexed asset points at a deleted asset");
            }
            other => panic!("inconsistent outcome {other:?}: {reference:?} {delete:?}"),
        }
    }
    println!("race: {referenced} referenced first, {deleted} deleted first");
    assert_eq!(referenced + deleted, 30);
}
