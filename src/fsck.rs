//! `assetd fsck [--repair]`: prints what `assets::fsck` finds. Exits non-zero
//! when something is wrong that is still wrong at the end (all of it without
//! `--repair`; with it, what it cannot fix).

use std::time::Duration;

use anyhow::bail;

use crate::assets::{self, events::Outbox};
use crate::config::{DataDir, DEFAULT_JOB_MAX_ATTEMPTS};
use crate::db;
use crate::signing::{self, UrlSigner};
use crate::storage::Storage;

pub async fn run(data_dir: &DataDir, repair: bool) -> anyhow::Result<()> {
    let pool = db::open(data_dir).await?;
    // Nothing is written through the storage's upload limit here.
    let storage = Storage::open(data_dir, u64::MAX).await?;
    let retry = assetd_queue::RetryPolicy::default();
    let queue = assetd_queue::Queue::new(pool.clone(), retry);
    // The event of an asset marked lost shows it failed, its steps in error:
    // no media URL is made for it, so neither this key nor this base (the
    // servers' are not known here) appears in it.
    let signer = UrlSigner::new(
        signing::parse_key(&signing::generate_key())?,
        Duration::ZERO,
    );
    let base = url::Url::parse("http://localhost/")?;
    let outbox = Outbox {
        signer: &signer,
        base: &base,
        queue: &queue,
        retry,
    };
    // Jobs queued again by a repair get the default attempts; the servers'
    // workers pick them up.
    let found = assets::fsck(&pool, &storage, &outbox, DEFAULT_JOB_MAX_ATTEMPTS, repair).await?;
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
