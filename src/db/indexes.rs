//! Indexes and indexed assets: the holders of references to assets.
//! Each reference check is part of the statement that writes, so that a
//! concurrent delete and reference can never both succeed.

use sqlx::FromRow;

use super::{now_millis, Connection, Pool};
use crate::domain::{AccountId, AssetId, IndexId, IndexedAssetId};

#[derive(Debug, Clone, FromRow)]
pub struct IndexRow {
    pub id: String,
    pub index_name: String,
    pub models: String,
    pub addons: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Indexed video assets.
    pub video_count: i64,
    /// Seconds of the indexed assets.
    pub total_duration: f64,
}

const INDEX_COLUMNS: &str = "i.id, i.index_name, i.models, i.addons, i.created_at, i.updated_at,
    (SELECT COUNT(*) FROM indexed_assets ia JOIN assets a ON a.id = ia.asset_id
      WHERE ia.index_id = i.id AND a.kind = 'video') AS video_count,
    (SELECT COALESCE(SUM(a.duration_seconds), 0.0) FROM indexed_assets ia JOIN assets a ON a.id = ia.asset_id
      WHERE ia.index_id = i.id) AS total_duration";

pub async fn insert_index(
    pool: &Pool,
    account: AccountId,
    id: IndexId,
    name: &str,
    models: &str,
    addons: &str,
) -> sqlx::Result<()> {
    let now = now_millis();
    sqlx::query(
        "INSERT INTO indexes (id, account_id, index_name, models, addons, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.as_string())
    .bind(account.as_string())
    .bind(name)
    .bind(models)
    .bind(addons)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn find_index(
    pool: &Pool,
    account: AccountId,
    id: IndexId,
) -> sqlx::Result<Option<IndexRow>> {
    sqlx::query_as(&format!(
        "SELECT {INDEX_COLUMNS} FROM indexes i WHERE i.account_id = $1 AND i.id = $2"
    ))
    .bind(account.as_string())
    .bind(id.as_string())
    .fetch_optional(pool)
    .await
}

/// Sort orders of the index list.
#[derive(Debug, Clone, Copy)]
pub struct IndexOrder {
    pub by_updated: bool,
    pub descending: bool,
}

pub async fn list_indexes(
    pool: &Pool,
    account: AccountId,
    name_contains: Option<&str>,
    order: IndexOrder,
    offset: u64,
    limit: u32,
) -> sqlx::Result<(Vec<IndexRow>, u64)> {
    let pattern =
        name_contains.map(|n| format!("%{}%", super::assets::escape_like(&n.to_lowercase())));
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM indexes WHERE account_id = $1 AND ($2 IS NULL OR lower(index_name) LIKE $3 ESCAPE '\\')",
    )
    .bind(account.as_string())
    .bind(&pattern)
    .bind(&pattern)
    .fetch_one(pool)
    .await?;
    let column = if order.by_updated {
        "i.updated_at"
    } else {
        "i.created_at"
    };
    let direction = if order.descending { "DESC" } else { "ASC" };
    let rows = sqlx::query_as(&format!(
        "SELECT {INDEX_COLUMNS} FROM indexes i
          WHERE i.account_id = $1 AND ($2 IS NULL OR lower(i.index_name) LIKE $3 ESCAPE '\\')
          ORDER BY {column} {direction}, i.id {direction} LIMIT $4 OFFSET $5"
    ))
    .bind(account.as_string())
    .bind(&pattern)
    .bind(&pattern)
    .bind(i64::from(limit))
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub async fn rename_index(
    pool: &Pool,
    account: AccountId,
    id: IndexId,
    name: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE indexes SET index_name = $1, updated_at = $2 WHERE account_id = $3 AND id = $4",
    )
    .bind(name)
    .bind(now_millis())
    .bind(account.as_string())
    .bind(id.as_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an index; its indexed assets go with it (ON DELETE CASCADE).
pub async fn delete_index(pool: &Pool, account: AccountId, id: IndexId) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM indexes WHERE account_id = $1 AND id = $2")
        .bind(account.as_string())
        .bind(id.as_string())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Adds a reference, in one statement that also checks that the index and the
/// asset belong to the account and that the asset is ready. False when a check failed.
pub async fn insert_indexed_asset(
    pool: &Pool,
    account: AccountId,
    index: IndexId,
    id: IndexedAssetId,
    asset: AssetId,
    enable_video_stream: Option<bool>,
    user_metadata: Option<&str>,
) -> sqlx::Result<bool> {
    let now = now_millis();
    let done = sqlx::query(
        "INSERT INTO indexed_assets (id, index_id, asset_id, account_id, status, enable_video_stream, user_metadata, created_at, updated_at)
         SELECT $1, i.id, a.id, $2, 'ready', $3, $4, $5, $6
           FROM indexes i, assets a
          WHERE i.id = $7 AND i.account_id = $8 AND a.id = $9 AND a.account_id = $10 AND a.status = 'ready'",
    )
    .bind(id.as_string())
    .bind(account.as_string())
    .bind(enable_video_stream)
    .bind(user_metadata)
    .bind(now)
    .bind(now)
    .bind(index.as_string())
    .bind(account.as_string())
    .bind(asset.as_string())
    .bind(account.as_string())
    .execute(pool)
    .await;
    let done = match done {
        Ok(done) => done,
        // The asset was deleted while this statement ran.
        Err(e) if super::is_foreign_key_violation(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    if done.rows_affected() == 1 {
        sqlx::query("UPDATE indexes SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(index.as_string())
            .execute(pool)
            .await?;
    }
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, FromRow)]
pub struct IndexedAssetRow {
    pub id: String,
    pub index_id: String,
    pub index_name: String,
    pub asset_id: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub filename: String,
    pub duration_seconds: Option<f64>,
    pub size_bytes: i64,
    pub technical_metadata: Option<String>,
}

const INDEXED_COLUMNS: &str =
    "ia.id, ia.index_id, i.index_name, ia.asset_id, ia.status, ia.created_at, ia.updated_at,
    a.filename, a.duration_seconds, a.size_bytes, a.technical_metadata";
const INDEXED_FROM: &str =
    "indexed_assets ia JOIN indexes i ON i.id = ia.index_id JOIN assets a ON a.id = ia.asset_id";

pub async fn find_indexed_asset(
    pool: &Pool,
    account: AccountId,
    index: IndexId,
    id: IndexedAssetId,
) -> sqlx::Result<Option<IndexedAssetRow>> {
    sqlx::query_as(&format!(
        "SELECT {INDEXED_COLUMNS} FROM {INDEXED_FROM} WHERE ia.account_id = $1 AND ia.index_id = $2 AND ia.id = $3"
    ))
    .bind(account.as_string())
    .bind(index.as_string())
    .bind(id.as_string())
    .fetch_optional(pool)
    .await
}

/// What a page of indexed assets is drawn from.
pub enum IndexedScope {
    Index(IndexId),
    Asset(AssetId),
}

/// A page of an index's indexed assets (oldest first, or as ordered), or of
/// the indexed assets that reference an asset.
pub async fn list_indexed_assets(
    pool: &Pool,
    account: AccountId,
    scope: IndexedScope,
    descending: bool,
    offset: u64,
    limit: u32,
) -> sqlx::Result<(Vec<IndexedAssetRow>, u64)> {
    let (column, id) = match scope {
        IndexedScope::Index(id) => ("ia.index_id", id.as_string()),
        IndexedScope::Asset(id) => ("ia.asset_id", id.as_string()),
    };
    let (total,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM {INDEXED_FROM} WHERE ia.account_id = $1 AND {column} = $2"
    ))
    .bind(account.as_string())
    .bind(&id)
    .fetch_one(pool)
    .await?;
    let direction = if descending { "DESC" } else { "ASC" };
    let rows = sqlx::query_as(&format!(
        "SELECT {INDEXED_COLUMNS} FROM {INDEXED_FROM} WHERE ia.account_id = $1 AND {column} = $2
          ORDER BY ia.created_at {direction}, ia.id {direction} LIMIT $3 OFFSET $4"
    ))
    .bind(account.as_string())
    .bind(&id)
    .bind(i64::from(limit))
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub async fn delete_indexed_asset(
    pool: &Pool,
    account: AccountId,
    index: IndexId,
    id: IndexedAssetId,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "DELETE FROM indexed_assets WHERE account_id = $1 AND index_id = $2 AND id = $3",
    )
    .bind(account.as_string())
    .bind(index.as_string())
    .bind(id.as_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes every reference to the account's asset (a forced delete), inside its transaction.
pub async fn delete_references(
    conn: &mut Connection,
    account: AccountId,
    asset: AssetId,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM indexed_assets WHERE asset_id = $1 AND asset_id IN (SELECT id FROM assets WHERE account_id = $2)",
    )
    .bind(asset.as_string())
    .bind(account.as_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// How many indexed assets reference an asset.
pub async fn count_references(pool: &Pool, asset: AssetId) -> sqlx::Result<u64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM indexed_assets WHERE asset_id = $1")
        .bind(asset.as_string())
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
