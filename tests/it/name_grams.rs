//! The filename postings (`db::name_grams`, migrations 20261203000004 and
//! 20261204000001): a name filter's list (needles of 1 character or more),
//! its total and any page of it, is exact whatever has been folded into
//! them and whatever not yet, through inserts, deletes, renames and new
//! kinds, across a block's edge and many chunks whose times are out of
//! order and overlap, with another account's names beside. Runs the
//! database layer itself (the server would fold on its own schedule) on
//! SQLite or PostgreSQL, as the suite runs; every list is checked against
//! the rows themselves, sorted newest first.

use assetd::db::{self, name_grams, Pool};
use assetd::domain::{AccountId, AssetId, AssetKind, AssetMethod, AssetStatus, Filename};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::database_url;

const KINDS: [AssetKind; 3] = [AssetKind::Video, AssetKind::Audio, AssetKind::Image];

/// Few letters, so that names share trigrams at many positions, repeat
/// them, and hold needles partly; with case and a letter of two bytes.
fn random_name(rng: &mut StdRng) -> String {
    const LETTERS: [char; 6] = ['a', 'b', '-', 'é', 'A', 'É'];
    let length = rng.gen_range(1..12);
    (0..length)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())])
        .collect()
}

async fn insert(
    pool: &Pool,
    account: AccountId,
    name: &str,
    kind: AssetKind,
    created_at: i64,
) -> AssetId {
    let id = AssetId::new();
    let filename = Filename::parse(name).unwrap();
    let mut tx = db::begin_write(pool).await.unwrap();
    db::assets::insert(
        &mut tx,
        &db::assets::NewAsset {
            id,
            account,
            method: AssetMethod::Direct,
            status: AssetStatus::Ready,
            kind,
            filename: &filename,
            file_type: "image/png",
            size_bytes: 1,
            sha256: "",
            duration_seconds: None,
            technical_metadata: None,
            error_message: None,
            user_metadata: None,
            source_url: None,
            hls_status: None,
            thumbnail_status: None,
            created_at,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The ids of the account's assets that pass the filter, newest first
/// (ties broken by id), from their rows.
async fn expected(
    pool: &Pool,
    account: AccountId,
    needle: &str,
    kinds: Option<&[AssetKind]>,
) -> Vec<String> {
    let mut rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, filename_folded, kind, created_at FROM assets WHERE account_id = $1",
    )
    .bind(account.as_string())
    .fetch_all(pool)
    .await
    .unwrap();
    rows.retain(|(_, name, kind, _)| {
        name.contains(needle) && kinds.is_none_or(|k| k.iter().any(|k| k.as_str() == kind))
    });
    rows.sort_by(|a, b| (b.3, &b.0).cmp(&(a.3, &a.0)));
    rows.into_iter().map(|(id, ..)| id).collect()
}

async fn check(
    (pool, data_dir): (&Pool, &std::path::Path),
    account: AccountId,
    rng: &mut StdRng,
    names: &[String],
    step: usize,
) {
    let unfolded: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM name_changes")
        .fetch_one(pool)
        .await
        .unwrap();
    for _ in 0..12 {
        // Mostly pieces of names that exist, sometimes anything.
        let needle = match names.get(rng.gen_range(0..names.len().max(1) * 2)) {
            Some(name) => {
                let chars: Vec<char> = Filename::parse(name).unwrap().folded().chars().collect();
                let length = rng.gen_range(1..=chars.len().clamp(1, 7));
                let start = rng.gen_range(0..=chars.len().saturating_sub(length));
                chars.iter().skip(start).take(length).collect()
            }
            None => Filename::parse(&random_name(rng)).unwrap().folded(),
        };
        let kinds: Option<Vec<AssetKind>> = match rng.gen_range(0..4) {
            0 => Some(vec![KINDS[rng.gen_range(0..3)]]),
            1 => Some(vec![KINDS[0], KINDS[rng.gen_range(1..3)]]),
            _ => None,
        };
        let newest_first = expected(pool, account, &needle, kinds.as_deref()).await;
        let filter = db::assets::ListFilter {
            asset_ids: Vec::new(),
            kinds: kinds.clone(),
            filename_contains: Some(needle.clone()),
        };
        // The first page, a page anywhere (or past the end), small or not;
        // on SQLite both as sqlx reads it and as rusqlite does, inline.
        let anywhere = rng.gen_range(0..=newest_first.len() + 2) as u64;
        let limit = rng.gen_range(1..=60);
        let inline = db::inline_reads::InlineReads::of_url(&database_url(data_dir));
        for (offset, limit, inline) in [
            (0, 50, None),
            (anywhere, limit, None),
            (anywhere, limit, inline.as_ref()),
        ] {
            let (page, total) = db::assets::list(pool, inline, account, &filter, offset, limit)
                .await
                .unwrap();
            let page: Vec<String> = page.iter().map(|asset| asset.id.as_string()).collect();
            let want: Vec<String> = newest_first
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .cloned()
                .collect();
            assert_eq!(
                (total, page),
                (newest_first.len() as u64, want),
                "step {step}: {needle:?} of kinds {kinds:?} from {offset} ({limit}), \
                 {} changes not folded",
                unfolded.0
            );
        }
    }
}

/// When the n-th asset is made: mostly later than the one before, some a
/// minute either way (two uploads at once, two nodes' clocks), a few long
/// before (an import).
fn created_at(rng: &mut StdRng, n: usize) -> i64 {
    let trend = 1_700_000_000_000 + n as i64 * 1_000;
    match rng.gen_range(0..20) {
        0 => trend - rng.gen_range(0..100_000_000),
        1..=4 => trend + rng.gen_range(-60_000..60_000),
        // Same millisecond as another: the id decides.
        5 => 1_700_000_000_000,
        _ => trend,
    }
}

#[tokio::test]
async fn a_name_list_is_exact_whatever_is_folded() {
    let data_dir = tempfile::tempdir().unwrap();
    let pool = db::connect(&database_url(data_dir.path())).await.unwrap();
    let account = db::keys::ensure_account(&pool, "default").await.unwrap();
    let other = db::keys::ensure_account(&pool, "other").await.unwrap();
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    // Document 1 stays in the first block; the account's next documents
    // are numbered from the edge of its second block.
    let first = insert(&pool, account, "abé-first", AssetKind::Video, 0).await;
    let mut live: Vec<(AssetId, String)> = Vec::new();
    sqlx::query("UPDATE search_accounts SET last_doc = 65500 WHERE account_id = $1")
        .bind(account.as_string())
        .execute(&pool)
        .await
        .unwrap();

    for step in 0..400 {
        match rng.gen_range(0..13) {
            0..=5 => {
                let name = random_name(&mut rng);
                let kind = KINDS[rng.gen_range(0..3)];
                let at = created_at(&mut rng, step);
                live.push((insert(&pool, account, &name, kind, at).await, name.clone()));
                if rng.gen_bool(0.3) {
                    insert(&pool, other, &name, kind, at).await;
                }
            }
            // The next documents in a later chunk (of 512): pages then rank
            // many chunks, whose times overlap and are out of order.
            12 => {
                sqlx::query(
                    "UPDATE search_accounts SET last_doc = last_doc + 300 WHERE account_id = $1",
                )
                .bind(account.as_string())
                .execute(&pool)
                .await
                .unwrap();
            }
            6 | 7 if !live.is_empty() => {
                let (id, _) = live.swap_remove(rng.gen_range(0..live.len()));
                sqlx::query("DELETE FROM assets WHERE id = $1")
                    .bind(id.as_string())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            8 if !live.is_empty() => {
                let i = rng.gen_range(0..live.len());
                let name = random_name(&mut rng);
                let filename = Filename::parse(&name).unwrap();
                sqlx::query("UPDATE assets SET filename = $1, filename_folded = $2 WHERE id = $3")
                    .bind(filename.as_str())
                    .bind(filename.folded())
                    .bind(live[i].0.as_string())
                    .execute(&pool)
                    .await
                    .unwrap();
                live[i].1 = name;
            }
            9 if !live.is_empty() => {
                sqlx::query("UPDATE assets SET kind = $1 WHERE id = $2")
                    .bind(KINDS[rng.gen_range(0..3)].as_str())
                    .bind(live[rng.gen_range(0..live.len())].0.as_string())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            _ => {
                name_grams::fold(&pool, rng.gen_range(1..40)).await.unwrap();
            }
        }
        if step % 20 == 19 {
            let names: Vec<String> = live.iter().map(|(_, name)| name.clone()).collect();
            check((&pool, data_dir.path()), account, &mut rng, &names, step).await;
        }
    }

    // Everything folded: the changes are gone, and the counts are the same.
    while name_grams::fold(&pool, 100).await.unwrap() > 0 {}
    let (unfolded,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM name_changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unfolded, 0);
    let mut names: Vec<String> = live.iter().map(|(_, name)| name.clone()).collect();
    names.push("abé-first".into());
    for step in 400..410 {
        check((&pool, data_dir.path()), account, &mut rng, &names, step).await;
    }
    // Both blocks hold documents; once they are all deleted, no postings
    // are left.
    let (blocks,): (i64,) =
        sqlx::query_as("SELECT COUNT(DISTINCT block) FROM name_grams WHERE account_id = $1")
            .bind(account.as_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(blocks, if live.is_empty() { 1 } else { 2 });
    for id in live.drain(..).map(|(id, _)| id).chain([first]) {
        sqlx::query("DELETE FROM assets WHERE id = $1")
            .bind(id.as_string())
            .execute(&pool)
            .await
            .unwrap();
    }
    while name_grams::fold(&pool, 100).await.unwrap() > 0 {}
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM name_grams WHERE account_id = $1")
        .bind(account.as_string())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "postings of deleted documents");
    pool.close().await;
}

/// Uploads and deletes from several writers while two folders run (as two
/// nodes would: on PostgreSQL one folds at a time, and neither loses the
/// other's postings); at the end every list is the rows' own.
#[tokio::test]
async fn folds_beside_writers_and_each_other_lose_nothing() {
    let data_dir = tempfile::tempdir().unwrap();
    let pool = db::connect(&database_url(data_dir.path())).await.unwrap();
    let account = db::keys::ensure_account(&pool, "default").await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let folders: Vec<_> = (0..2)
        .map(|_| {
            let (pool, stop) = (pool.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    name_grams::fold(&pool, 7).await.unwrap();
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..4u64)
        .map(|writer| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(writer);
                let mut mine = Vec::new();
                for _ in 0..60 {
                    let name = random_name(&mut rng);
                    let kind = KINDS[rng.gen_range(0..3)];
                    let at = created_at(&mut rng, mine.len());
                    mine.push(insert(&pool, account, &name, kind, at).await);
                    if rng.gen_bool(0.3) {
                        let id: AssetId = mine.swap_remove(rng.gen_range(0..mine.len()));
                        sqlx::query("DELETE FROM assets WHERE id = $1")
                            .bind(id.as_string())
                            .execute(&pool)
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    stop.cancel();
    for folder in folders {
        folder.await.unwrap();
    }
    while name_grams::fold(&pool, 100).await.unwrap() > 0 {}

    let names: Vec<(String,)> = sqlx::query_as("SELECT filename FROM assets WHERE account_id = $1")
        .bind(account.as_string())
        .fetch_all(&pool)
        .await
        .unwrap();
    let names: Vec<String> = names.into_iter().map(|(name,)| name).collect();
    assert!(names.len() > 100, "{}", names.len());
    let mut rng = StdRng::seed_from_u64(rand::random());
    for step in 0..5 {
        check((&pool, data_dir.path()), account, &mut rng, &names, step).await;
    }
    pool.close().await;
}
