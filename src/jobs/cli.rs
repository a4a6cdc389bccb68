//! `assetd jobs list|retry`: for operators, while the server runs or not.

use anyhow::bail;

use crate::assets::{self, RetryScope};
use crate::config::JobsCommand;
use crate::db;
use crate::domain::AssetId;

pub async fn run(command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { data_dir } => {
            let pool = db::open(&data_dir).await?;
            let queue = queue(&pool);
            println!(
                "{:<8}  {:<10}  {:<9}  {:>8}  {:>13}  {:<32}  last error",
                "id", "kind", "state", "attempts", "interruptions", "asset"
            );
            for job in queue.unfinished().await? {
                println!(
                    "{:<8}  {:<10}  {:<9}  {:>8}  {:>13}  {:<32}  {}",
                    job.id,
                    job.kind,
                    job.state,
                    job.attempts,
                    job.interruptions,
                    job.resource.as_deref().unwrap_or("-"),
                    job.last_error.as_deref().unwrap_or("-"),
                );
            }
        }
        JobsCommand::Retry {
            asset,
            all_failed,
            data_dir,
        } => {
            let scope = match (asset, all_failed) {
                (Some(raw), _) => RetryScope::Asset(
                    AssetId::parse(&raw).map_err(|e| anyhow::anyhow!("--asset {raw}: {}", e.0))?,
                ),
                (None, true) => RetryScope::AllFailed,
                (None, false) => bail!("say which jobs: --asset ID or --all-failed"),
            };
            let pool = db::open(&data_dir).await?;
            let retried = assets::retry_failed(&pool, &queue(&pool), scope).await?;
            for (kind, asset) in &retried {
                println!("queued again: {kind} of asset {asset}");
            }
            println!("{} failed job(s) queued again", retried.len());
        }
    }
    Ok(())
}

/// The retry policy does not matter here: this process runs no job.
fn queue(pool: &db::Pool) -> assetd_queue::Queue {
    assetd_queue::Queue::new(pool.clone(), assetd_queue::RetryPolicy::default())
}
