//! Accounts and their API keys.

use sqlx::FromRow;

use super::{now_millis, Pool};
use crate::domain::{AccountId, KeyId};

/// The account a key hash belongs to, if the key is known and not revoked.
pub async fn account_for_key_hash(pool: &Pool, key_hash: &str) -> sqlx::Result<Option<AccountId>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT account_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id,)| AccountId::parse(&id).ok()))
}

/// The account with this name, if there is one.
pub async fn find_account(pool: &Pool, name: &str) -> sqlx::Result<Option<AccountId>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM accounts WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.map(|(id,)| AccountId::parse(&id).map_err(|e| sqlx::Error::Decode(e.into())))
        .transpose()
}

/// The account with this name, created if it does not exist.
pub async fn ensure_account(pool: &Pool, name: &str) -> sqlx::Result<AccountId> {
    sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(AccountId::new().as_string())
        .bind(name)
        .bind(now_millis())
        .execute(pool)
        .await?;
    let (id,): (String,) = sqlx::query_as("SELECT id FROM accounts WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    AccountId::parse(&id).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// Stores a key's hash for an account. Returns false when the hash was already known
/// (revoked or not): a known key is never silently re-activated.
pub async fn insert_key(
    pool: &Pool,
    account: AccountId,
    key_hash: &str,
    key_prefix: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO api_keys (id, account_id, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key_hash) DO NOTHING",
    )
    .bind(KeyId::new().as_string())
    .bind(account.as_string())
    .bind(key_hash)
    .bind(key_prefix)
    .bind(now_millis())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, FromRow)]
pub struct KeyRow {
    pub id: String,
    pub account: String,
    pub key_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn list_keys(pool: &Pool) -> sqlx::Result<Vec<KeyRow>> {
    sqlx::query_as(
        "SELECT k.id, a.name AS account, k.key_prefix, k.created_at, k.revoked_at
         FROM api_keys k JOIN accounts a ON a.id = k.account_id
         ORDER BY k.created_at, k.id",
    )
    .fetch_all(pool)
    .await
}

/// Revokes by key id or key hash. Returns false when no active key matched.
pub async fn revoke(pool: &Pool, id_or_hash: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR key_hash = $3) AND revoked_at IS NULL",
    )
    .bind(now_millis())
    .bind(id_or_hash)
    .bind(id_or_hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
