//! API key material and the `assetd keys` subcommands.

use std::time::Duration;

use anyhow::bail;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::KeysCommand;
use crate::db;
use crate::domain::{AccountId, Timestamp};

const KEY_PREFIX: &str = "tlk_";

/// A new random key: 192 bits of entropy, so a fast hash is a safe way to store it.
pub fn generate() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// What the database keeps of a key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Which account each recently presented key belongs to, remembered for a
/// while (by the key's hash): most requests then need no key lookup. A key
/// revoked while the server runs (`assetd keys revoke`, another process)
/// therefore stops working within that while; unknown keys are never
/// remembered. A zero while turns it off.
pub struct KeyCache {
    known: Option<moka::sync::Cache<String, AccountId>>,
}

/// Keys remembered at most: far more than the accounts of one server call it
/// at once; beyond, the least used are forgotten first.
const KEY_CACHE_CAPACITY: u64 = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            known: (!ttl.is_zero()).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(KEY_CACHE_CAPACITY)
                    .time_to_live(ttl)
                    .build()
            }),
        }
    }

    /// The account of a key that is known and not revoked (as of at most
    /// the cache's while ago).
    pub async fn account(&self, pool: &db::Pool, key: &str) -> sqlx::Result<Option<AccountId>> {
        let key_hash = hash(key);
        if let Some(account) = self.known.as_ref().and_then(|known| known.get(&key_hash)) {
            return Ok(Some(account));
        }
        let account = db::keys::account_for_key_hash(pool, &key_hash).await?;
        if let (Some(known), Some(account)) = (&self.known, account) {
            known.insert(key_hash, account);
        }
        Ok(account)
    }
}

/// The first characters of a key, enough for an operator to recognise it.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 6).collect()
}

/// Registers `key` for the account `default` unless it is already known.
pub async fn register_configured_key(pool: &db::Pool, key: &str) -> anyhow::Result<()> {
    if key.trim().is_empty() {
        bail!("ASSETD_API_KEY is set but empty");
    }
    let account = db::keys::ensure_account(pool, "default").await?;
    if db::keys::insert_key(pool, account, &hash(key), &display_prefix(key)).await? {
        tracing::info!(prefix = %display_prefix(key), "registered ASSETD_API_KEY for account 'default'");
    }
    Ok(())
}

fn format_millis(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { account, data_dir } => {
            let account = account.trim();
            if account.is_empty() {
                bail!("--account must not be empty");
            }
            let pool = db::open(&data_dir).await?;
            let account_id = db::keys::ensure_account(&pool, account).await?;
            let key = generate();
            db::keys::insert_key(&pool, account_id, &hash(&key), &display_prefix(&key)).await?;
            println!("{key}");
        }
        KeysCommand::List { data_dir } => {
            let pool = db::open(&data_dir).await?;
            println!(
                "{:<32}  {:<16}  {:<10}  {:<20}  revoked",
                "id", "account", "prefix", "created"
            );
            for key in db::keys::list_keys(&pool).await? {
                println!(
                    "{:<32}  {:<16}  {:<10}  {:<20}  {}",
                    key.id,
                    key.account,
                    key.key_prefix,
                    format_millis(key.created_at),
                    key.revoked_at
                        .map(format_millis)
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
        KeysCommand::Revoke { key, data_dir } => {
            let pool = db::open(&data_dir).await?;
            let target = if key.starts_with(KEY_PREFIX) {
                hash(&key)
            } else {
                key.clone()
            };
            if !db::keys::revoke(&pool, &target).await? {
                bail!("no active key matches '{}'", display_prefix(&key));
            }
            println!("revoked");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(display_prefix(&a).len(), 10);
    }
}
