//! `/readyz`: 200 while the database and the storage answer; 503 with a JSON
//! reason naming what failed while one of them cannot be reached, and 200
//! again once it is back.

use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;

use crate::common::{bucket_name, on_postgres, s3_server, TestApp};

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls /readyz until it answers `status` (a pool reconnects in its own time).
async fn readyz_becomes(app: &TestApp, status: u16) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (got, body) = readyz(app).await;
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {got}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A connection to the PostgreSQL server of the app's database (not to that
/// database), and the database's name.
async fn admin_of(app: &TestApp) -> (sqlx::AnyConnection, String) {
    let url = app.database_url();
    let (server, name) = url.rsplit_once('/').unwrap();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    (admin, name.to_string())
}

#[tokio::test]
async fn readyz_names_what_cannot_be_reached() {
    let app = TestApp::spawn().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["checks"],
        serde_json::json!({"database": "ok", "storage": "ok"})
    );

    // Storage: where uploads begin is no longer a directory.
    let tmp = app.data_dir.path().join("tmp");
    let away = app.data_dir.path().join("tmp-away");
    std::fs::rename(&tmp, &away).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "not_ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert!(
        body["checks"]["storage"].as_str().unwrap().contains("tmp"),
        "{body}"
    );
    std::fs::remove_file(&tmp).unwrap();
    std::fs::rename(&away, &tmp).unwrap();
    readyz_becomes(&app, 200).await;

    // S3: the bucket is gone.
    if let Some(server) = s3_server() {
        let bucket = bucket_name(app.data_dir.path());
        let url = format!("{server}/{bucket}");
        let deleted = crate::test_s3::signed(reqwest::Method::DELETE, &url, b"").await;
        assert!(
            deleted.status().is_success(),
            "{}",
            deleted.text().await.unwrap()
        );
        let body = readyz_becomes(&app, 503).await;
        assert_eq!(body["checks"]["database"], "ok");
        assert!(
            body["checks"]["storage"]
                .as_str()
                .unwrap()
                .contains(&bucket),
            "{body}"
        );
        crate::test_s3::create_bucket(&server, &bucket).await;
        readyz_becomes(&app, 200).await;
    }

    // Database: PostgreSQL refuses the server's connections.
    if !on_postgres() {
        println!("the database's side is tested on PostgreSQL (ASSETD_TEST_POSTGRES_URL)");
        return;
    }
    let (mut admin, name) = admin_of(&app).await;
    let refuse = |allow: bool| format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {allow}");
    sqlx::query(&refuse(false))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    let body = readyz_becomes(&app, 503).await;
    assert_eq!(body["code"], "not_ready");
    assert_ne!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["storage"], "ok", "{body}");
    sqlx::query(&refuse(true))
        .execute(&mut admin)
        .await
        .unwrap();
    readyz_becomes(&app, 200).await;
}

/// A connection is pinged before use only once it has been idle a while
/// (src/db/mod.rs): those the database closed while they sat in the pool are
/// replaced, never handed to a request.
#[tokio::test]
async fn connections_the_database_closed_are_replaced_before_use() {
    if !on_postgres() {
        println!("the database's side is tested on PostgreSQL (ASSETD_TEST_POSTGRES_URL)");
        return;
    }
    let app = TestApp::spawn().await;
    let lists = || async {
        let requests = (0..16).map(|_| app.get("/assets?page_limit=1"));
        let answers = futures_util::future::join_all(requests).await;
        for (status, body) in answers {
            assert_eq!(status, 200, "{body}");
        }
    };
    // Requests at once open several connections.
    lists().await;
    let (mut admin, name) = admin_of(&app).await;
    let closed: Vec<(bool,)> =
        sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert!(closed.len() >= 2, "{} connections closed", closed.len());
    // Longer than a connection may sit unused without a ping.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        lists().await;
    }
}
