//! On PostgreSQL each node answers repeated reads from memory
//! (`src/db/read_cache.rs`). These tests show that it does, and that what
//! it answers is never older than a change: another node's shows as soon as
//! PostgreSQL notifies it, its own at once, a lost notice connection
//! forgets everything, and one account's answers never reach another.
//! Skipped on SQLite, whose reads keep nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::common::{bucket_name, joining, json_of, TestApp};

/// Far longer than any test waits: an answer that changes within it was
/// forgotten because of a change, never because it expired.
const KEPT_LONG: (&str, &str) = ("ASSETD_READ_CACHE_SECS", "600");

/// How long a change made elsewhere may take to show (the notice's delivery,
/// or listening again after a lost connection) on a busy test machine.
const SHOWS_WITHIN: Duration = Duration::from_secs(10);

/// The node's connection that listens for notices, in `pg_stat_activity`.
const LISTENING: &str =
    "datname = current_database() AND query LIKE 'LISTEN %assetd_asset_changes%'";

async fn database(app: &TestApp) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&app.database_url())
        .await
        .unwrap()
}

/// Changes an asset's user metadata in the database, as SQL by hand or a
/// command would.
async fn change_in_database(app: &TestApp, id: &str, metadata: &Value) {
    let mut db = database(app).await;
    update_metadata(&mut db, id, metadata).await;
}

/// The same behind every node's back: the notice trigger (like every
/// trigger) does not fire for a session that replicates.
async fn change_unnoticed(app: &TestApp, id: &str, metadata: Value) {
    let mut db = database(app).await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut db)
        .await
        .unwrap();
    update_metadata(&mut db, id, &metadata).await;
}

async fn update_metadata(db: &mut sqlx::AnyConnection, id: &str, metadata: &Value) {
    let done = sqlx::query("UPDATE assets SET user_metadata = $1 WHERE id = $2")
        .bind(metadata.to_string())
        .bind(id)
        .execute(db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn metadata_of(app: &TestApp, id: &str) -> Value {
    let (status, asset) = app.get(&format!("/assets/{id}")).await;
    assert_eq!(status, 200, "{asset}");
    asset.get("user_metadata").cloned().unwrap_or(Value::Null)
}

/// Through the API, as a client does.
async fn set_metadata(app: &TestApp, method: Method, id: &str, metadata: Value) {
    let path = format!("/assets/{id}/user-metadata");
    let (status, body) = app
        .send_json(method, &path, json!({ "user_metadata": metadata }))
        .await;
    assert_eq!(status, 204, "{body}");
}

async fn total_of(app: &TestApp) -> u64 {
    let (status, page) = app.get("/assets?page_limit=5").await;
    assert_eq!(status, 200, "{page}");
    page["page_info"]["total_results"].as_u64().unwrap()
}

/// Asks until `read` gives `want`, for at most [`SHOWS_WITHIN`].
async fn shows<T, F, Fut>(what: &str, want: T, mut read: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + SHOWS_WITHIN;
    loop {
        let got = read().await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the node listens for notices again, and its reads are kept.
async fn kept_again(app: &TestApp, id: &str, marker: Value) {
    let deadline = tokio::time::Instant::now() + SHOWS_WITHIN;
    let mut round = 0;
    loop {
        round += 1;
        let before = metadata_of(app, id).await;
        change_unnoticed(app, id, json!({"round": round, "marker": marker})).await;
        if metadata_of(app, id).await == before {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never kept an answer again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_node_answers_from_memory_and_shows_every_change() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let a = TestApp::spawn_with(&[KEPT_LONG]).await;
    let database_url = a.database_url();
    let bucket = bucket_name(a.data_dir.path());
    let b = TestApp::spawn_with(&joining(&a, &database_url, &bucket, &[KEPT_LONG])).await;
    let id = a.new_asset("frame.png").await;

    // Node A keeps its answer: a change no node hears of does not show
    // there, while node B, which reads it for the first time, sees it.
    kept_again(&a, &id, json!("start")).await;
    let kept = metadata_of(&a, &id).await;
    let total = total_of(&a).await;
    change_unnoticed(&a, &id, json!({"unnoticed": 1})).await;
    assert_eq!(metadata_of(&a, &id).await, kept, "kept, not read afresh");
    assert_eq!(metadata_of(&b, &id).await, json!({"unnoticed": 1}));

    // A change through node B shows on node A once notified.
    set_metadata(&b, Method::PUT, &id, json!({"by": "b"})).await;
    shows("B's change on A", json!({"by": "b"}), || {
        metadata_of(&a, &id)
    })
    .await;
    let second = b.new_asset("frame.png").await;
    shows("B's upload in A's list", total + 1, || total_of(&a)).await;

    // A change through node A shows there at once, without waiting for
    // the notice: its own writes make it forget what it kept.
    assert_eq!(metadata_of(&a, &second).await, Value::Null);
    set_metadata(&a, Method::PUT, &second, json!({"by": "a"})).await;
    assert_eq!(metadata_of(&a, &second).await, json!({"by": "a"}));
    let third = a.new_asset("frame.png").await;
    assert_eq!(total_of(&a).await, total + 2);
    let (status, _) = a.delete(&format!("/assets/{third}")).await;
    assert_eq!(status, 204);
    let (status, body) = a.get(&format!("/assets/{third}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(total_of(&a).await, total + 1);

    // A delete through node B: gone from node A too.
    assert_eq!(metadata_of(&a, &second).await, json!({"by": "a"}));
    let (status, _) = b.delete(&format!("/assets/{second}")).await;
    assert_eq!(status, 204);
    shows("B's delete on A", 404, || async {
        a.get(&format!("/assets/{second}")).await.0
    })
    .await;
    shows("B's delete in A's list", total, || total_of(&a)).await;

    // Another account never gets this account's kept answers.
    assert_eq!(metadata_of(&a, &id).await, json!({"by": "b"}));
    let other = a.key_for("other").await;
    let as_other = |path: String| {
        let request = a.client.get(a.url(&path)).header("x-api-key", &other);
        async move { json_of(request.send().await.unwrap()).await }
    };
    let (status, body) = as_other(format!("/assets/{id}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, page) = as_other("/assets?page_limit=5".to_string()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["page_info"]["total_results"], 0, "{page}");
    assert_eq!(page["data"], json!([]), "{page}");
}

#[tokio::test]
async fn a_lost_notice_connection_forgets_everything_and_listens_again() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let app = TestApp::spawn_with(&[KEPT_LONG]).await;
    let id = app.new_asset("frame.png").await;
    kept_again(&app, &id, json!("before")).await;
    let kept = metadata_of(&app, &id).await;

    // While its connection is down the node cannot know what changed, so
    // what it kept is forgotten: a change it never hears of shows.
    change_unnoticed(&app, &id, json!({"while": "down"})).await;
    assert_eq!(metadata_of(&app, &id).await, kept, "still kept");
    let mut db = database(&app).await;
    let closed: Vec<(bool,)> = sqlx::query_as(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {LISTENING}"
    ))
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(closed.len(), 1, "one listening connection");
    shows(
        "a change made while not listening",
        json!({"while": "down"}),
        || metadata_of(&app, &id),
    )
    .await;

    // It listens again; what it kept before the loss stays forgotten.
    shows("listening again", 1, || async {
        let (listening,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE {LISTENING} AND state = 'idle'"
        ))
        .fetch_one(&mut database(&app).await)
        .await
        .unwrap();
        listening
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(metadata_of(&app, &id).await, json!({"while": "down"}));

    // It keeps answers again, and hears of changes again: here one made
    // in the database by hand, then its own.
    kept_again(&app, &id, json!("after")).await;
    let by_hand = json!({"by": "hand"});
    change_in_database(&app, &id, &by_hand).await;
    shows("a change by hand", by_hand, || metadata_of(&app, &id)).await;
    set_metadata(&app, Method::PATCH, &id, json!({"patched": true})).await;
    let patched = metadata_of(&app, &id).await;
    assert_eq!(patched, json!({"by": "hand", "patched": true}));
}

#[tokio::test]
async fn a_zero_while_reads_every_request_afresh() {
    if crate::common::skip_without_postgres() {
        return;
    }
    let app = TestApp::spawn_with(&[("ASSETD_READ_CACHE_SECS", "0")]).await;
    let id = app.new_asset("frame.png").await;
    for round in 0..3 {
        change_unnoticed(&app, &id, json!({"round": round})).await;
        assert_eq!(metadata_of(&app, &id).await, json!({"round": round}));
    }
}
