//! Indexes and indexed assets: the holders of references to assets.
//! Each reference check is part of the statement that writes, so that a
//! concurrent delete and reference can never both succeed.

use sqlx::FromRow;

use super::{now_millis, Connection, Pool, Statement};
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
    pub user_metadata: Option<String>,
}

const INDEXED_COLUMNS: &str =
    "ia.id, ia.index_id, i.index_name, ia.asset_id, ia.status, ia.created_at, ia.updated_at,
    a.filename, a.duration_seconds, a.size_bytes, a.technical_metadata, ia.user_metadata";
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

/// The user metadata (JSON text) of an indexed asset of this account: None
/// when there is no such indexed asset, Some(None) when it carries none.
pub async fn indexed_user_metadata(
    pool: &Pool,
    account: AccountId,
    index: IndexId,
    id: IndexedAssetId,
) -> sqlx::Result<Option<Option<String>>> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT user_metadata FROM indexed_assets WHERE account_id = $1 AND index_id = $2 AND id = $3",
    )
    .bind(account.as_string())
    .bind(index.as_string())
    .bind(id.as_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(metadata,)| metadata))
}

/// Like `assets::swap_user_metadata`, for an indexed asset.
pub async fn swap_indexed_user_metadata(
    pool: &Pool,
    account: AccountId,
    index: IndexId,
    id: IndexedAssetId,
    old: Option<&str>,
    new: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE indexed_assets SET user_metadata = $1, updated_at = $2
          WHERE account_id = $3 AND index_id = $4 AND id = $5 AND user_metadata IS NOT DISTINCT FROM $6",
    )
    .bind(new)
    .bind(now_millis())
    .bind(account.as_string())
    .bind(index.as_string())
    .bind(id.as_string())
    .bind(old)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a page of indexed assets is drawn from.
pub enum IndexedScope {
    Index(IndexId),
    Asset(AssetId),
}

/// A measure of an indexed asset's file that a list may bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Duration,
    Fps,
    Width,
    Height,
    Size,
}

/// The filters and order of a list of indexed assets (all optional).
#[derive(Debug, Default)]
pub struct IndexedFilter {
    /// Any of these statuses.
    pub statuses: Vec<String>,
    /// A case-insensitive substring of the asset's filename.
    pub filename_contains: Option<String>,
    /// (measure, at least, at most).
    pub ranges: Vec<(Measure, Option<f64>, Option<f64>)>,
    /// Unix milliseconds: created (updated) at or after.
    pub created_since: Option<i64>,
    pub updated_since: Option<i64>,
    /// Each key's value must equal this text (a list value: contain it).
    pub user_metadata: Vec<(String, String)>,
    pub by_updated: bool,
    pub descending: bool,
}

/// A page of an index's indexed assets (newest first, or as ordered), or of
/// the indexed assets that reference an asset, with the total that match.
pub async fn list_indexed_assets(
    pool: &Pool,
    account: AccountId,
    scope: IndexedScope,
    filter: &IndexedFilter,
    offset: u64,
    limit: u32,
) -> sqlx::Result<(Vec<IndexedAssetRow>, u64)> {
    let dialect = super::Dialect::of(pool);
    let mut count = Statement::new(format!("SELECT COUNT(*) FROM {INDEXED_FROM}"));
    push_indexed_filter(&mut count, dialect, account, &scope, filter);
    let (total,): (i64,) = count.query_as().fetch_one(pool).await?;

    let mut page = Statement::new(format!("SELECT {INDEXED_COLUMNS} FROM {INDEXED_FROM}"));
    push_indexed_filter(&mut page, dialect, account, &scope, filter);
    let column = if filter.by_updated {
        "ia.updated_at"
    } else {
        "ia.created_at"
    };
    let direction = if filter.descending { "DESC" } else { "ASC" };
    page.push(&format!(
        " ORDER BY {column} {direction}, ia.id {direction}"
    ))
    .push_page_bounds(dialect, offset, limit);
    let rows = page.query_as().fetch_all(pool).await?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

fn push_indexed_filter(
    statement: &mut Statement,
    dialect: super::Dialect,
    account: AccountId,
    scope: &IndexedScope,
    filter: &IndexedFilter,
) {
    let (column, id) = match scope {
        IndexedScope::Index(id) => ("ia.index_id", id.as_string()),
        IndexedScope::Asset(id) => ("ia.asset_id", id.as_string()),
    };
    statement
        .push(" WHERE ia.account_id = ")
        .push_bind(account.as_string())
        .push(&format!(" AND {column} = "))
        .push_bind(id);
    if !filter.statuses.is_empty() {
        statement
            .push(" AND ia.status IN ")
            .push_list(filter.statuses.iter().cloned());
    }
    if let Some(needle) = &filter.filename_contains {
        statement
            .plan_with_values()
            .push(" AND a.filename_folded LIKE ")
            .push_bind(format!("%{}%", super::assets::escape_like(needle)))
            .push(" ESCAPE '\\'");
    }
    for (measure, at_least, at_most) in &filter.ranges {
        let value = measure_sql(dialect, *measure);
        if let Some(low) = at_least {
            statement.push(&format!(" AND {value} >= ")).push_bind(*low);
        }
        if let Some(high) = at_most {
            statement
                .push(&format!(" AND {value} <= "))
                .push_bind(*high);
        }
    }
    if let Some(since) = filter.created_since {
        statement.push(" AND ia.created_at >= ").push_bind(since);
    }
    if let Some(since) = filter.updated_since {
        statement.push(" AND ia.updated_at >= ").push_bind(since);
    }
    for (key, value) in &filter.user_metadata {
        // A value matches by its JSON text (1 matches "1", true "true"); a
        // list of strings matches when it holds the value.
        match dialect {
            super::Dialect::Sqlite => statement
                .push(" AND EXISTS (SELECT 1 FROM json_each(ia.user_metadata) m WHERE m.key = ")
                .push_bind(key.clone())
                .push(
                    " AND ((m.type IN ('text', 'integer', 'real') AND CAST(m.value AS TEXT) = ",
                )
                .push_bind(value.clone())
                .push(") OR (m.type IN ('true', 'false') AND m.type = ")
                .push_bind(value.clone())
                .push(") OR (m.type = 'array' AND EXISTS (SELECT 1 FROM json_each(m.value) e WHERE e.value = ")
                .push_bind(value.clone())
                .push("))))"),
            super::Dialect::Postgres => statement
                .push(" AND EXISTS (SELECT 1 FROM jsonb_each(ia.user_metadata::jsonb) m WHERE m.key = ")
                .push_bind(key.clone())
                .push(" AND ((jsonb_typeof(m.value) <> 'array' AND m.value #>> '{}' = ")
                .push_bind(value.clone())
                .push(") OR (jsonb_typeof(m.value) = 'array' AND jsonb_exists(m.value, ")
                .push_bind(value.clone())
                .push("))))"),
        };
    }
}

/// The SQL of a measure: columns of the asset, or numbers inside its
/// technical metadata (JSON text), read with each engine's JSON functions.
fn measure_sql(dialect: super::Dialect, measure: Measure) -> String {
    let field = match measure {
        Measure::Duration => return "a.duration_seconds".into(),
        Measure::Size => return "a.size_bytes".into(),
        Measure::Fps => "video_fps",
        Measure::Width => "video_width",
        Measure::Height => "video_height",
    };
    match dialect {
        super::Dialect::Sqlite => format!("json_extract(a.technical_metadata, '$.{field}')"),
        super::Dialect::Postgres => {
            format!("CAST(a.technical_metadata::jsonb ->> '{field}' AS DOUBLE PRECISION)")
        }
    }
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
