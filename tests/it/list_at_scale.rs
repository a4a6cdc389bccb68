//! The structures that keep lists fast at a million assets (kept counts,
//! documents numbered by account, the filename postings and the chunks'
//! times that rank their pages) on a database that already holds assets:
//! one filled by an earlier version's schema (the migrations before
//! 20261202000004, 20261203000002, 20261203000003, 20261203000004 or
//! 20261204000001) gets them on
//! the new server's start, and its lists, filters and counts are exact from
//! then on, through uploads and deletes, with another account's assets of
//! the same names beside them.

use std::borrow::Cow;

use sqlx::migrate::Migrator;
use sqlx::{Any, Connection};

use crate::common::{database_url, direct_form, fixtures, TestApp};

/// The last migration of the version before the kept counts and the
/// trigram index.
const BEFORE_KEPT_COUNTS: i64 = 20261202000003;
/// The last migration of the version before the index's documents were
/// numbered by account.
const BEFORE_ACCOUNT_DOCUMENTS: i64 = 20261203000001;
/// The last migration of the version that kept name filters' totals in
/// each server's memory, before `name_totals`.
const BEFORE_NAME_TOTALS: i64 = 20261203000002;
/// The last migration of the version that counted a name's matches from
/// FTS5 or pg_trgm, before the filename postings (`name_grams`).
const BEFORE_NAME_GRAMS: i64 = 20261203000003;
/// The last migration of the version that found a page of a name's
/// matches with FTS5 or pg_trgm, before the chunks' times (`doc_times`).
const BEFORE_PAGES_FROM_POSTINGS: i64 = 20261203000004;

/// Names that a substring filter must tell apart: `%`, `_` and `\` are
/// literal, case does not count (Unicode too), and 1 and 2 characters work.
const NAMES: [&str; 8] = [
    "Holiday_2024.MP4",
    "holiday-2024.mp4",
    "100%_done.mov",
    "100x done.mov",
    "back\\slash.wav",
    "ÉTÉ à Paris.jpg",
    "été à paris.png",
    "x.mp4",
];

/// Asset n's creation: an hour after asset n - 1, so that pages span days.
fn created_at(n: usize) -> i64 {
    1_700_000_000_000 + n as i64 * 3_600_000
}

/// Asset n's kind.
fn kind_of(n: usize) -> &'static str {
    ["video", "image", "audio"][n % 3]
}

/// Makes the database of the version whose last migration is `version` for
/// the data dir and fills it with `rows` assets (and NAMES first) of account
/// `default`, and NAMES again for another account, as that version wrote
/// them.
async fn previous_version_database(data_dir: &std::path::Path, rows: usize, version: i64) {
    let url = database_url(data_dir);
    sqlx::any::install_default_drivers();
    if url.starts_with("postgres") {
        <Any as sqlx::migrate::MigrateDatabase>::create_database(&url)
            .await
            .unwrap();
    } else {
        std::fs::File::create(data_dir.join("assetd.db")).unwrap();
    }
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let dialect = if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut previous = Migrator::new(folder).await.unwrap();
    previous.migrations = Cow::Owned(
        previous
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect(),
    );
    previous.run(&mut conn).await.unwrap();

    let account = uuid::Uuid::new_v4().simple().to_string();
    let other = uuid::Uuid::new_v4().simple().to_string();
    for (id, name) in [(&account, "default"), (&other, "other")] {
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, 0)")
            .bind(id)
            .bind(name)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // One transaction: thousands of rows, each committed alone, would take long.
    let mut tx = conn.begin().await.unwrap();
    let names = NAMES
        .iter()
        .map(|n| (&account, n.to_string()))
        .chain((0..rows).map(|n| (&account, format!("clip-{n:05}.mp4"))))
        // The other account's: its names hold most needles below too.
        .chain(NAMES.iter().map(|n| (&other, format!("other {n}"))));
    for (n, (account, name)) in names.enumerate() {
        let kind = kind_of(n);
        sqlx::query(
            "INSERT INTO assets (id, account_id, method, status, kind, filename, filename_folded,
                 file_type, size_bytes, sha256, created_at, updated_at)
             VALUES ($1, $2, 'direct', 'ready', $3, $4, $5, 'video/mp4', 1, '', $6, $6)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(account)
        .bind(kind)
        .bind(name.clone())
        .bind(name.to_lowercase())
        .bind(created_at(n))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();
}

async fn listed(app: &TestApp, query: &str) -> (u64, Vec<String>) {
    let (status, page) = app.get(&format!("/assets?page_limit=50&{query}")).await;
    assert_eq!(status, 200, "{page}");
    let names = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap().to_string())
        .collect();
    (page["page_info"]["total_results"].as_u64().unwrap(), names)
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test]
async fn a_database_without_kept_counts_gets_exact_counts_and_filters() {
    an_earlier_database_gets_exact_counts_and_filters(BEFORE_KEPT_COUNTS).await;
}

#[tokio::test]
async fn a_database_without_account_documents_gets_exact_counts_and_filters() {
    an_earlier_database_gets_exact_counts_and_filters(BEFORE_ACCOUNT_DOCUMENTS).await;
}

#[tokio::test]
async fn a_database_without_name_totals_gets_exact_counts_and_filters() {
    an_earlier_database_gets_exact_counts_and_filters(BEFORE_NAME_TOTALS).await;
}

#[tokio::test]
async fn a_database_without_name_grams_gets_exact_counts_and_filters() {
    an_earlier_database_gets_exact_counts_and_filters(BEFORE_NAME_GRAMS).await;
}

#[tokio::test]
async fn a_database_without_chunk_times_gets_exact_counts_and_filters() {
    an_earlier_database_gets_exact_counts_and_filters(BEFORE_PAGES_FROM_POSTINGS).await;
}

async fn an_earlier_database_gets_exact_counts_and_filters(version: i64) {
    let data_dir = tempfile::tempdir().unwrap();
    // Past the offset from which a page seeks its day (5,000).
    let rows = 6_000;
    previous_version_database(data_dir.path(), rows, version).await;
    let key = format!("tlk_{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::restart(data_dir, key, &[]).await;
    let total = (NAMES.len() + rows) as u64;

    assert_eq!(listed(&app, "").await.0, total);
    let (videos, _) = listed(&app, "asset_types=video").await;
    let (images_and_audio, _) = listed(&app, "asset_types=image&asset_types=audio").await;
    assert_eq!(
        (videos, images_and_audio),
        (total.div_ceil(3), total - total.div_ceil(3))
    );

    let clips: Vec<String> = (110..120).map(|n| format!("clip-{n:05}.mp4")).collect();
    let clips: Vec<&str> = clips.iter().map(String::as_str).collect();
    for (needle, expected) in [
        ("HOLIDAY", vec!["Holiday_2024.MP4", "holiday-2024.mp4"]),
        ("y_2", vec!["Holiday_2024.MP4"]),
        ("0%_", vec!["100%_done.mov"]),
        ("%", vec!["100%_done.mov"]),
        ("k\\s", vec!["back\\slash.wav"]),
        ("été à", vec!["ÉTÉ à Paris.jpg", "été à paris.png"]),
        ("x.", vec!["x.mp4"]),
        ("clip-0011", clips),
        ("nothing like it", vec![]),
    ] {
        let (count, names) = listed(&app, &format!("filename={}", urlencode(needle))).await;
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            (count, sorted(names)),
            (expected.len() as u64, sorted(expected)),
            "filename={needle}"
        );
    }

    // With kinds, through the index's own rows.
    assert_eq!(
        listed(&app, "filename=holiday&asset_types=video").await,
        (1, vec!["Holiday_2024.MP4".to_string()])
    );

    // A deep page holds the rows at its offset, newest first, with and
    // without kinds; the last page ends with the oldest.
    let name_of = |n: usize| {
        NAMES.get(n).map_or_else(
            || format!("clip-{:05}.mp4", n - NAMES.len()),
            |s| s.to_string(),
        )
    };
    let all: Vec<usize> = (0..total as usize).rev().collect();
    let audio: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&n| kind_of(n) == "audio")
        .collect();
    // A name that matches nearly every row, and one whose 100 matches are
    // all old (a walk of the newest-first index would read most rows
    // before them): pages from the postings, ranked by the chunks' times.
    let clips: Vec<usize> = all.iter().copied().filter(|&n| n >= NAMES.len()).collect();
    let old_clips: Vec<usize> = clips
        .iter()
        .copied()
        .filter(|&n| name_of(n).contains("clip-001"))
        .collect();
    let audio_clips: Vec<usize> = clips
        .iter()
        .copied()
        .filter(|&n| kind_of(n) == "audio")
        .collect();
    for (query, newest_first) in [
        ("", &all),
        ("asset_types=audio&", &audio),
        ("filename=CLIP-0&", &clips),
        ("filename=clip-0&asset_types=audio&", &audio_clips),
        ("filename=clip-001&", &old_clips),
    ] {
        let (total, _) = listed(&app, query).await;
        assert_eq!(total, newest_first.len() as u64, "{query}");
        for page in [1, 2, 40, 111, 112] {
            let offset = (page - 1) * 50;
            let expected: Vec<String> = newest_first
                .iter()
                .skip(offset)
                .take(50)
                .map(|&n| name_of(n))
                .collect();
            let (_, names) = listed(&app, &format!("{query}page={page}")).await;
            assert_eq!(names, expected, "{query}page={page}");
        }
    }
    let last = total.div_ceil(50);
    let (_, last_page) = listed(&app, &format!("page={last}")).await;
    assert_eq!(last_page.last().unwrap(), "Holiday_2024.MP4", "oldest last");

    // The kept counts and the index follow uploads and deletes.
    let (status, created) = app
        .create(direct_form(&fixtures().path("frame.png")).text("filename", "Holiday photo.png"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(listed(&app, "").await.0, total + 1);
    assert_eq!(listed(&app, "filename=holiday").await.0, 3);
    let (_, page) = app.get("/assets?filename=holiday_2024").await;
    assert_eq!(page["data"][0]["filename"], "Holiday_2024.MP4");
    let id = page["data"][0]["_id"].as_str().unwrap().to_string();
    let (status, _) = app.delete(&format!("/assets/{id}")).await;
    assert_eq!(status, 204);
    assert_eq!(listed(&app, "").await.0, total);
    assert_eq!(listed(&app, "filename=holiday").await.0, 2);
    let (videos_after, _) = listed(&app, "asset_types=video").await;
    assert_eq!(videos_after, videos - 1, "Holiday_2024.MP4 was a video");

    // A document's number is its account's: no asset moves.
    let mut conn = sqlx::AnyConnection::connect(&app.database_url())
        .await
        .unwrap();
    let moved = sqlx::query(
        "UPDATE assets SET account_id = (SELECT id FROM accounts WHERE name = 'other')
          WHERE filename = 'x.mp4'",
    )
    .execute(&mut conn)
    .await;
    let refused = moved
        .expect_err("an asset moved to another account")
        .to_string();
    assert!(
        refused.contains("does not move between accounts"),
        "{refused}"
    );
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
