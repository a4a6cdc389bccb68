//! Seeds an account with many ready assets through the database layer's own
//! insert path (`db::assets::insert`, in transactions of 5,000), for
//! `scripts/bench-list`. The rows look like real uploads: a mix of kinds,
//! names drawn from a small vocabulary with a number (so that a substring
//! filter matches a few rows or very many), a probe's technical metadata,
//! times spread over the past year.
//!
//!   cargo run --release --example seed_assets -- DATABASE_URL ACCOUNT_NAME FROM TO
//!
//! seeds assets number FROM to TO - 1 (so that an account grows in steps);
//! asset n is named `<word>-<word>-<n, 7 digits>.<ext>` and made 30 s after
//! asset n - 1.
//!
//!   cargo run --release --example seed_assets -- --eighth-needles
//!
//! prints needles (one a line) that each match an eighth of the names, all
//! different: the end of exactly one word of the vocabulary and its dash.
//! `scripts/bench-list` asks each once, for a filter's first count.

use assetd::db;
use assetd::domain::{AssetId, AssetKind, AssetMethod, AssetStatus, Filename, StepStatus};
use serde_json::json;

const BATCH: u64 = 5_000;
/// 2023-11-14: a million assets 30 s apart end in 2024.
const FIRST_CREATED_AT: i64 = 1_700_000_000_000;
const WORDS: [&str; 16] = [
    "interview",
    "drone",
    "beach",
    "keynote",
    "product",
    "demo",
    "sunset",
    "city",
    "launch",
    "podcast",
    "trailer",
    "street",
    "studio",
    "wedding",
    "concert",
    "forest",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--eighth-needles") {
        for needle in eighth_needles() {
            println!("{needle}");
        }
        return Ok(());
    }
    let [url, account, from, to] = args.as_slice() else {
        anyhow::bail!("usage: seed_assets DATABASE_URL ACCOUNT_NAME FROM TO");
    };
    let (from, to): (u64, u64) = (from.parse()?, to.parse()?);
    let pool = db::connect(url).await?;
    let account = db::keys::ensure_account(&pool, account).await?;
    let mut seeded = from;
    while seeded < to {
        let mut tx = pool.begin().await?;
        for n in seeded..(seeded + BATCH).min(to) {
            let (kind, extension, mime) = match n % 10 {
                0..=5 => (AssetKind::Video, "mp4", "video/mp4"),
                6..=8 => (AssetKind::Image, "jpg", "image/jpeg"),
                _ => (AssetKind::Audio, "m4a", "audio/mp4"),
            };
            let word = |i: u64| WORDS[((n / 7 + i * 5) % WORDS.len() as u64) as usize];
            let filename = Filename::parse(&format!("{}-{}-{n:07}.{extension}", word(0), word(1)))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let technical = json!({
                "file_size_bytes": 4_718_592 + n, "file_mime_type": mime,
                "file_container_format": "mov,mp4,m4a,3gp,3g2,mj2", "video_codec": "h264",
                "video_width": 1920, "video_height": 1080, "video_fps": 29.97,
                "video_duration_seconds": 12.5, "video_bitrate_bps": 3_000_000,
                "storage_aspect_ratio": "16:9", "audio_codec": "aac", "audio_sample_rate": 48000,
                "audio_channels": 2, "has_audio": true, "is_hdr": false,
                "total_video_streams": 1, "total_audio_streams": 1,
            });
            let sha256 = format!("{:064x}", n);
            let video = kind == AssetKind::Video;
            db::assets::insert(
                &mut tx,
                &db::assets::NewAsset {
                    id: AssetId::new(),
                    account,
                    method: AssetMethod::Direct,
                    status: AssetStatus::Ready,
                    kind,
                    filename: &filename,
                    file_type: mime,
                    size_bytes: 4_718_592 + n,
                    sha256: &sha256,
                    duration_seconds: (kind != AssetKind::Image).then_some(12.5),
                    technical_metadata: Some(technical.to_string()),
                    error_message: None,
                    user_metadata: None,
                    source_url: None,
                    hls_status: video.then_some(StepStatus::Ready),
                    thumbnail_status: video.then_some(StepStatus::Ready),
                    created_at: FIRST_CREATED_AT + n as i64 * 30_000,
                },
            )
            .await?;
        }
        tx.commit().await?;
        seeded = (seeded + BATCH).min(to);
    }
    // What a running server folds within seconds: the filename postings
    // hold the new names (a server started now would fold them while it is
    // being timed).
    while db::name_grams::fold(&pool, db::name_grams::FOLD_BATCH).await? > 0 {}
    if url.starts_with("postgres") {
        // What autovacuum would do within a minute or so: fresh statistics
        // for the planner and a visibility map for index-only scans, so that
        // the timings that follow are those of a running server.
        for table in [
            "assets",
            "asset_counts",
            "asset_days",
            "name_grams",
            "name_changes",
        ] {
            sqlx::query(&format!("VACUUM ANALYZE {table}"))
                .execute(&pool)
                .await?;
        }
    }
    println!("seeded assets {from} to {}", to - 1);
    Ok(())
}

/// Needles of at least 3 characters that end exactly one word and its dash:
/// a name holds one when either of its two words is that word, an eighth of
/// the names.
fn eighth_needles() -> Vec<String> {
    let ends: Vec<String> = WORDS.iter().map(|word| format!("{word}-")).collect();
    let mut needles = Vec::new();
    for end in &ends {
        for start in 0..end.len().saturating_sub(2) {
            let needle = &end[start..];
            if ends.iter().filter(|other| other.ends_with(needle)).count() == 1 {
                needles.push(needle.to_string());
            }
        }
    }
    needles
}
