//! The indexed-asset list's filters as both SDKs send them, and PATCH of an
//! indexed asset's user metadata.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

/// The indexed-asset ids a list query returns, and its total_results.
async fn listed(app: &TestApp, index: &str, query: &str) -> (Vec<String>, u64) {
    let (status, body) = app
        .get(&format!("/indexes/{index}/indexed-assets?{query}"))
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    let ids = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["_id"].as_str().unwrap().to_string())
        .collect();
    (ids, body["page_info"]["total_results"].as_u64().unwrap())
}

async fn indexed(app: &TestApp, index: &str, fixture: &str, metadata: Value) -> String {
    let asset = app.new_asset(fixture).await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/indexes/{index}/indexed-assets"),
            json!({"asset_id": asset, "user_metadata": metadata}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn indexed_assets_are_filtered_as_the_sdks_ask() {
    let app = TestApp::spawn().await;
    let index = app.new_index("filters").await;
    let video = indexed(
        &app,
        &index,
        "clip.mp4",
        json!({"camera": "a7", "take": 3, "hd": true, "tags": ["beach", "sun"]}),
    )
    .await;
    let audio = indexed(
        &app,
        &index,
        "tone.mp3",
        json!({"camera": "zoom", "take": 4}),
    )
    .await;
    let image = indexed(&app, &index, "frame.png", json!({})).await;

    let cases: [(&str, Vec<&String>); 16] = [
        ("", vec![&image, &audio, &video]),
        ("sort_option=asc", vec![&video, &audio, &image]),
        ("status=ready", vec![&image, &audio, &video]),
        ("status=failed&status=queued", vec![]),
        ("filename=CLIP", vec![&video]),
        ("duration%5Bgte%5D=0.5", vec![&audio, &video]),
        ("width[gte]=1", vec![&video]),
        ("width[gte]=1&width[lte]=1", vec![]),
        ("fps[gte]=1&height[gte]=1", vec![&video]),
        ("size[gte]=1000000000", vec![]),
        (
            "created_at=2000-01-01T00:00:00Z",
            vec![&image, &audio, &video],
        ),
        ("created_at=2999-01-01T00:00:00Z", vec![]),
        // Python: user_metadata[k]=v; JS: one JSON object. Numbers and
        // booleans match by their text; a list matches one of its strings.
        ("user_metadata%5Bcamera%5D=a7", vec![&video]),
        ("user_metadata=%7B%22take%22%3A4%7D", vec![&audio]),
        (
            "user_metadata[hd]=true&user_metadata[tags]=sun",
            vec![&video],
        ),
        ("user_metadata[camera]=a7&user_metadata[take]=4", vec![]),
    ];
    for (query, want) in cases {
        let (ids, total) = listed(&app, &index, query).await;
        let want: Vec<String> = want.into_iter().cloned().collect();
        assert_eq!(ids, want, "{query}");
        assert_eq!(
            total,
            want.len() as u64,
            "{query}: total_results counts the filtered rows"
        );
    }

    for (query, name, code) in [
        ("status=done", "status", "parameter_unknown"),
        ("duration[gte]=long", "duration[gte]", "parameter_invalid"),
        ("updated_at=yesterday", "updated_at", "parameter_invalid"),
        (
            "user_metadata=%5B1%5D",
            "user_metadata",
            "parameter_invalid",
        ),
        ("sort_by=size", "sort_by", "parameter_unknown"),
    ] {
        let (status, body) = app
            .get(&format!("/indexes/{index}/indexed-assets?{query}"))
            .await;
        let message = assert_error(status, &body, 400, code);
        assert!(message.contains(name), "{query}: {message}");
    }
}

#[tokio::test]
async fn an_indexed_assets_user_metadata_is_merged_by_patch() {
    let app = TestApp::spawn().await;
    let index = app.new_index("patch").await;
    let id = indexed(
        &app,
        &index,
        "frame.png",
        json!({"camera": "a7", "take": 1}),
    )
    .await;
    let path = format!("/indexes/{index}/indexed-assets/{id}");

    let (status, body) = app
        .send_json(
            Method::PATCH,
            &path,
            json!({"user_metadata": {"take": null, "scene": "b"}}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, item) = app.get(&path).await;
    assert_eq!(item["user_metadata"], json!({"camera": "a7", "scene": "b"}));
    let (ids, _) = listed(&app, &index, "user_metadata[scene]=b").await;
    assert_eq!(ids, vec![id.clone()], "the list filters on the new value");

    let (status, body) = app
        .send_json(
            Method::PATCH,
            &path,
            json!({"user_metadata": {"x": {"y": 1}}}),
        )
        .await;
    assert_error(status, &body, 400, "parameter_invalid");
    let other = app.key_for("another-account").await;
    let (status, body) = app
        .send_json_as(
            &other,
            Method::PATCH,
            &path,
            json!({"user_metadata": {"a": 1}}),
        )
        .await;
    assert_error(status, &body, 404, "resource_not_exist");
    let unknown = format!("/indexes/{index}/indexed-assets/0193a1b2c3d4e5f60718293a4b5c6d7e");
    let (status, body) = app
        .send_json(Method::PATCH, &unknown, json!({"user_metadata": {"a": 1}}))
        .await;
    assert_error(status, &body, 404, "resource_not_exist");
    let (_, item) = app.get(&path).await;
    assert_eq!(
        item["user_metadata"],
        json!({"camera": "a7", "scene": "b"}),
        "unchanged"
    );
}
