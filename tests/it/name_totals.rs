//! A filename filter's total kept in the database (`name_totals`, migration
//! 20261203000003): counted once, then kept exact by every write's triggers
//! in the writing transaction (uploads, deletes, a new kind, a new name),
//! used while its generation is the account's, and never used once a write
//! has overtaken it. On SQLite or PostgreSQL, as the suite runs.

use std::time::Duration;

use sqlx::{AnyConnection, Connection};

use crate::common::{direct_form, fixtures, TestApp};

async fn connect(app: &TestApp) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&app.database_url()).await.unwrap()
}

/// A kept row: kinds, needle, total, and whether its generation is its
/// account's (so that a list would use it).
type Kept = (String, String, i64, bool);

async fn kept_rows(conn: &mut AnyConnection) -> Vec<Kept> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT t.kinds, t.needle, t.total,
                CAST(CASE WHEN t.generation = (SELECT COALESCE(SUM(c.changes), 0) FROM asset_counts c
                                                WHERE c.account_id = t.account_id)
                          THEN 1 ELSE 0 END AS BIGINT)
           FROM name_totals t ORDER BY t.kinds, t.needle",
    )
    .fetch_all(conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(kinds, needle, total, current)| (kinds, needle, total, current == 1))
        .collect()
}

fn kept(kinds: &str, needle: &str, total: i64) -> Kept {
    (kinds.to_string(), needle.to_string(), total, true)
}

/// The server keeps a total after answering: waits for `expected`.
async fn wait_for_rows(conn: &mut AnyConnection, expected: &[Kept]) {
    for _ in 0..100 {
        if kept_rows(conn).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kept_rows(conn).await, expected);
}

async fn total(app: &TestApp, query: &str) -> u64 {
    let (status, page) = app.get(&format!("/assets?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["page_info"]["total_results"].as_u64().unwrap()
}

async fn upload(app: &TestApp, name: &str) -> String {
    let form = direct_form(&fixtures().path("frame.png")).text("filename", name.to_string());
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    created["_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_kept_name_total_follows_every_write_and_is_used_only_while_exact() {
    let app = TestApp::spawn().await;
    let mut conn = connect(&app).await;
    let dawn = upload(&app, "Harbour at dawn.png").await;
    let dusk = upload(&app, "harbour at dusk.png").await;
    upload(&app, "Quay.png").await;

    assert_eq!(total(&app, "filename=HARBOUR").await, 2);
    assert_eq!(total(&app, "filename=harbour&asset_types=video").await, 0);
    assert_eq!(
        total(
            &app,
            "filename=harbour&asset_types=image&asset_types=video&asset_types=image"
        )
        .await,
        2
    );
    wait_for_rows(
        &mut conn,
        &[
            kept("", "harbour", 2),
            kept(",image,video,", "harbour", 2),
            kept(",video,", "harbour", 0),
        ],
    )
    .await;

    // Writes through the API, matching and not: the rows follow, and stay
    // current (a list uses them without counting).
    let lights = upload(&app, "HARBOUR lights.png").await;
    upload(&app, "Quay 2.png").await;
    let (status, _) = app.delete(&format!("/assets/{dawn}")).await;
    assert_eq!(status, 204);
    let after_api_writes = [
        kept("", "harbour", 2),
        kept(",image,video,", "harbour", 2),
        kept(",video,", "harbour", 0),
    ];
    assert_eq!(kept_rows(&mut conn).await, after_api_writes);
    assert_eq!(total(&app, "filename=harbour").await, 2);

    // A new kind (as a probe finds) and a new name, by SQL: the same.
    sqlx::query("UPDATE assets SET kind = 'video' WHERE id = $1")
        .bind(&dusk)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        kept_rows(&mut conn).await,
        [
            kept("", "harbour", 2),
            kept(",image,video,", "harbour", 2),
            kept(",video,", "harbour", 1),
        ]
    );
    sqlx::query(
        "UPDATE assets SET filename = 'Lights.png', filename_folded = 'lights.png' WHERE id = $1",
    )
    .bind(&lights)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        kept_rows(&mut conn).await,
        [
            kept("", "harbour", 1),
            kept(",image,video,", "harbour", 1),
            kept(",video,", "harbour", 1),
        ]
    );
    assert_eq!(total(&app, "filename=harbour").await, 1);
    assert_eq!(total(&app, "filename=harbour&asset_types=video").await, 1);
    assert_eq!(total(&app, "filename=harbour&asset_types=image").await, 0);

    // A current row is what the list answers with: it is not counted again
    // (a total the rows do not hold shows it).
    sqlx::query("UPDATE name_totals SET total = 1000 WHERE kinds = ''")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(total(&app, "filename=harbour").await, 1000);

    // A row that a write overtook (its generation behind the account's, as
    // when a write commits between a count and the keeping of its total)
    // is not used, and is replaced by a new count.
    sqlx::query("UPDATE name_totals SET generation = generation - 1 WHERE kinds = ''")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(total(&app, "filename=harbour").await, 1);
    wait_for_rows(
        &mut conn,
        &[
            kept("", "harbour", 1),
            kept(",image,", "harbour", 0),
            kept(",image,video,", "harbour", 1),
            kept(",video,", "harbour", 1),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_account_keeps_at_most_32_name_totals_the_latest_used() {
    let app = TestApp::spawn().await;
    let mut conn = connect(&app).await;
    upload(&app, "harbour.png").await;
    for n in 0..40 {
        assert_eq!(total(&app, &format!("filename=needle-{n:02}")).await, 0);
        // One at a time: "latest" is by the time each was counted.
        wait_until_kept(&mut conn, &format!("needle-{n:02}")).await;
    }
    let needles: Vec<String> = kept_rows(&mut conn)
        .await
        .into_iter()
        .map(|(_, needle, _, _)| needle)
        .collect();
    let latest: Vec<String> = (8..40).map(|n| format!("needle-{n:02}")).collect();
    assert_eq!(needles, latest);

    // A use after the count records itself (later ones when the last is
    // over 10 s old): the oldest, used again, outlasts the next oldest when
    // a new total comes.
    sqlx::query("UPDATE name_totals SET used_at = used_at - 60000")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(total(&app, "filename=needle-08").await, 0);
    for _ in 0..100 {
        let (newest,): (String,) =
            sqlx::query_as("SELECT needle FROM name_totals ORDER BY used_at DESC LIMIT 1")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if newest == "needle-08" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(total(&app, "filename=needle-40").await, 0);
    wait_until_kept(&mut conn, "needle-40").await;
    assert_kept_needles(&mut conn, std::iter::once(8).chain(10..41)).await;

    // One-off searches go before any total used again, however long ago.
    sqlx::query("UPDATE name_totals SET used_at = 0 WHERE needle = 'needle-08'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(total(&app, "filename=needle-41").await, 0);
    wait_until_kept(&mut conn, "needle-41").await;
    assert_kept_needles(&mut conn, std::iter::once(8).chain(11..42)).await;
}

/// The kept rows are exactly those of `needle-NN` for these numbers.
async fn assert_kept_needles(conn: &mut AnyConnection, numbers: impl Iterator<Item = u32>) {
    let needles: Vec<String> = kept_rows(conn)
        .await
        .into_iter()
        .map(|(_, needle, _, _)| needle)
        .collect();
    let expected: Vec<String> = numbers.map(|n| format!("needle-{n:02}")).collect();
    assert_eq!(needles, expected);
}

async fn wait_until_kept(conn: &mut AnyConnection, needle: &str) {
    for _ in 0..100 {
        let rows = kept_rows(conn).await;
        if rows.iter().any(|(_, kept, _, _)| kept == needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{needle} was not kept");
}

#[tokio::test]
async fn writes_at_once_each_add_their_part_to_a_kept_total() {
    let app = TestApp::spawn().await;
    let mut conn = connect(&app).await;
    let first = upload(&app, "harbour 0.png").await;
    assert_eq!(total(&app, "filename=harbour").await, 1);
    wait_for_rows(&mut conn, &[kept("", "harbour", 1)]).await;

    // 12 uploads at once, 8 of them matching, and a delete of a match.
    let names: Vec<String> = (1..=12)
        .map(|n| match n % 3 {
            0 => format!("quay {n}.png"),
            _ => format!("Harbour {n}.png"),
        })
        .collect();
    let uploads = futures_util::future::join_all(names.iter().map(|name| upload(&app, name)));
    let path = format!("/assets/{first}");
    let delete = app.delete(&path);
    let (_, (status, _)) = tokio::join!(uploads, delete);
    assert_eq!(status, 204);

    assert_eq!(kept_rows(&mut conn).await, [kept("", "harbour", 8)]);
    assert_eq!(total(&app, "filename=harbour").await, 8);
}
