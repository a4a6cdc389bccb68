//! `PUT`, `PATCH` and `DELETE /v1.3/assets/{id}/user-metadata`: the platform's
//! rules for empty and null values, the limits, and changes at once.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{assert_error, TestApp};

const PATH: fn(&str) -> String = |id| format!("/assets/{id}/user-metadata");

async fn metadata_of(app: &TestApp, id: &str) -> Value {
    let (status, asset) = app.get(&format!("/assets/{id}")).await;
    assert_eq!(status, 200, "{asset}");
    asset.get("user_metadata").cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn put_replaces_patch_merges_and_delete_clears() {
    let app = TestApp::spawn().await;
    let id = app.new_asset("frame.png").await;
    assert_eq!(metadata_of(&app, &id).await, Value::Null, "none yet");

    let body = json!({"user_metadata": {"x": "y", "n": 1, "empty": "", "none": [], "gone": null}});
    let (status, answer) = app.send_json(Method::PUT, &PATH(&id), body).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(
        metadata_of(&app, &id).await,
        json!({"x": "y", "n": 1}),
        "empty and null values are ignored by PUT"
    );

    let body = json!({"user_metadata": {"x": null, "n": "", "tags": ["a", "b"], "ok": true}});
    let (status, _) = app.send_json(Method::PATCH, &PATH(&id), body).await;
    assert_eq!(status, 204);
    assert_eq!(
        metadata_of(&app, &id).await,
        json!({"n": 1, "tags": ["a", "b"], "ok": true}),
        "PATCH: null removes, empty keeps, others set"
    );

    let (status, _) = app.delete(&PATH(&id)).await;
    assert_eq!(status, 204);
    let (_, asset) = app.get(&format!("/assets/{id}")).await;
    assert!(asset.get("user_metadata").is_none(), "left out: {asset}");

    let body = json!({"user_metadata": {"a": 1}});
    app.send_json(Method::PUT, &PATH(&id), body).await;
    let (status, _) = app
        .send_json(Method::PUT, &PATH(&id), json!({"user_metadata": {}}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(metadata_of(&app, &id).await, Value::Null, "PUT {{}} clears");
}

#[tokio::test]
async fn bad_metadata_changes_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.new_asset("frame.png").await;
    app.send_json(
        Method::PUT,
        &PATH(&id),
        json!({"user_metadata": {"keep": "me"}}),
    )
    .await;

    let too_many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = [
        (json!({}), 400, "parameter_not_provided"),
        (
            json!({"user_metadata": {"a": {"b": 1}}}),
            400,
            "parameter_invalid",
        ),
        (
            json!({"user_metadata": {"a": [1, 2]}}),
            400,
            "parameter_invalid",
        ),
        (json!({"user_metadata": "text"}), 400, "parameter_invalid"),
        (json!({"user_metadata": too_many}), 400, "parameter_invalid"),
        (
            json!({"user_metadata": {"big": "x".repeat(17 * 1024)}}),
            400,
            "parameter_invalid",
        ),
    ];
    for method in [Method::PUT, Method::PATCH] {
        for (body, want_status, want_code) in &cases {
            let (status, answer) = app
                .send_json(method.clone(), &PATH(&id), body.clone())
                .await;
            let message = assert_error(status, &answer, *want_status, want_code);
            assert!(
                message.contains("user_metadata"),
                "{method} {body}: {message}"
            );
        }
    }
    // A merge that would pass the key limit is refused whole.
    let ninety_nine: serde_json::Map<String, Value> =
        (0..99).map(|i| (format!("k{i}"), json!(i))).collect();
    let (status, _) = app
        .send_json(
            Method::PATCH,
            &PATH(&id),
            json!({"user_metadata": ninety_nine}),
        )
        .await;
    assert_eq!(status, 204, "keep + 99 = 100 keys: at the limit");
    let (status, answer) = app
        .send_json(
            Method::PATCH,
            &PATH(&id),
            json!({"user_metadata": {"one_more": 1}}),
        )
        .await;
    let message = assert_error(status, &answer, 400, "parameter_invalid");
    assert!(message.contains("at most 100 keys"), "{message}");
    assert_eq!(metadata_of(&app, &id).await["keep"], "me");
    assert!(metadata_of(&app, &id).await.get("one_more").is_none());

    // Not JSON at all.
    let response = app
        .client
        .put(app.url(&PATH(&id)))
        .header("x-api-key", &app.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, answer) = crate::common::json_of(response).await;
    assert_error(status, &answer, 400, "parameter_invalid");

    // Unknown, malformed and other accounts' assets are all 404.
    let other = app.key_for("someone-else").await;
    for (key, path) in [
        (app.key.clone(), PATH("0193a1b2c3d4e5f60718293a4b5c6d7e")),
        (app.key.clone(), PATH("nope")),
        (other.clone(), PATH(&id)),
    ] {
        let (status, answer) = app
            .send_json_as(
                &key,
                Method::PATCH,
                &path,
                json!({"user_metadata": {"a": 1}}),
            )
            .await;
        assert_error(status, &answer, 404, "resource_not_exist");
    }
    let response = app
        .client
        .delete(app.url(&PATH(&id)))
        .header("x-api-key", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(metadata_of(&app, &id).await["keep"], "me", "untouched");
}

/// Merges sent at once all land: each is a compare-and-swap that reads again
/// when another changed the metadata first.
#[tokio::test]
async fn merges_at_once_all_land() {
    let app = TestApp::spawn().await;
    let id = app.new_asset("frame.png").await;
    let merges = (0..20).map(|i| {
        let app = &app;
        let path = PATH(&id);
        async move {
            let body = json!({"user_metadata": {format!("k{i}"): i}});
            app.send_json(Method::PATCH, &path, body).await.0
        }
    });
    let statuses = futures_util::future::join_all(merges).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let metadata = metadata_of(&app, &id).await;
    assert_eq!(metadata.as_object().unwrap().len(), 20, "{metadata}");
}
