//! `assetd fsck [--repair]`: prints what `assets::fsck` finds. Exits non-zero
//! when something is wrong that is still wrong at the end (all of it without
//! `--repair`; with it, what it cannot fix).

use anyhow::bail;

use crate::assets;
use crate::config::{DataDir, DEFAULT_JOB_MAX_ATTEMPTS};
use crate::db;
use crate::storage::Storage;

pub async fn run(data_dir: &DataDir, repair: bool) -> anyhow::Result<()> {
    let pool = db::open(data_dir).await?;
    // Nothing is written through the storage's upload limit here.
    let storage = Storage::open(data_dir, u64::MAX).await?;
    let queue = assetd_queue::Queue::new(pool.clone(), assetd_queue::RetryPolicy::default());
    // Jobs queued again by a repair get the default attempts; the servers'
    // workers pick them up.
    let found = assets::fsck(&pool, &storage, &queue, DEFAULT_JOB_MAX_ATTEMPTS, repair).await?;
    for problem in &found {
        let done = if repair && problem.repairable() {
            "  [repaired]"
        } else {
            ""
        };
        println!("{problem}{done}");
    }
    let left = found.iter().filter(|p| !repair || !p.repairable()).count();
    println!(
        "{} problem(s) found, {} repaired",
        found.len(),
        found.len() - left
    );
    if left > 0 {
        bail!("{left} problem(s) left");
    }
    Ok(())
}
