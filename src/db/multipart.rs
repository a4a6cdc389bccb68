//! Multipart upload sessions and their chunks (see the migration
//! `multipart_uploads`). `reported` is BOOLEAN on PostgreSQL and INTEGER on
//! SQLite, so it is only ever written as TRUE/FALSE, and read as a condition
//! (`AND NOT reported`) or through CASE.

use sqlx::FromRow;

use super::{now_millis, Connection, Pool};
use crate::domain::{AccountId, AssetId};

#[derive(Debug, Clone, FromRow)]
pub struct UploadRow {
    pub id: String,
    pub account_id: String,
    pub asset_id: String,
    pub total_size: i64,
    pub chunk_size: i64,
    pub total_chunks: i64,
    pub status: String,
    pub bucket_upload_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

const UPLOAD_COLUMNS: &str =
    "id, account_id, asset_id, total_size, chunk_size, total_chunks, status,
    bucket_upload_id, created_at, updated_at, expires_at";

pub struct NewUpload<'a> {
    pub id: &'a str,
    pub account: AccountId,
    pub asset: AssetId,
    pub total_size: u64,
    pub chunk_size: u64,
    pub total_chunks: u64,
    pub bucket_upload_id: Option<&'a str>,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut Connection, upload: &NewUpload<'_>) -> sqlx::Result<()> {
    let now = now_millis();
    sqlx::query(
        "INSERT INTO multipart_uploads (id, account_id, asset_id, total_size, chunk_size, total_chunks,
            status, bucket_upload_id, created_at, updated_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10)",
    )
    .bind(upload.id)
    .bind(upload.account.as_string())
    .bind(upload.asset.as_string())
    .bind(i64::try_from(upload.total_size).unwrap_or(i64::MAX))
    .bind(i64::try_from(upload.chunk_size).unwrap_or(i64::MAX))
    .bind(i64::try_from(upload.total_chunks).unwrap_or(i64::MAX))
    .bind(upload.bucket_upload_id)
    .bind(now)
    .bind(now)
    .bind(upload.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A session of this account.
pub async fn find(pool: &Pool, account: AccountId, id: &str) -> sqlx::Result<Option<UploadRow>> {
    sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE account_id = $1 AND id = $2"
    ))
    .bind(account.as_string())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A session of any account: for a signed chunk URL, whose permission was
/// checked when it was made.
pub async fn find_any(pool: &Pool, id: &str) -> sqlx::Result<Option<UploadRow>> {
    sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The session that made an asset (one at most).
pub async fn find_by_asset(pool: &Pool, asset: AssetId) -> sqlx::Result<Option<UploadRow>> {
    sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE asset_id = $1"
    ))
    .bind(asset.as_string())
    .fetch_optional(pool)
    .await
}

/// Records a stored chunk (again, for a chunk PUT twice before its report; a
/// report that raced with this PUT stays if the bytes are the same).
pub async fn upsert_chunk(
    pool: &Pool,
    upload: &str,
    index: u64,
    size: u64,
    etag: &str,
    part_etag: Option<&str>,
) -> sqlx::Result<()> {
    let now = now_millis();
    sqlx::query(
        "INSERT INTO multipart_chunks (upload_id, chunk_index, size, etag, part_etag, reported, uploaded_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7)
         ON CONFLICT (upload_id, chunk_index) DO UPDATE SET
           size = excluded.size, part_etag = excluded.part_etag, updated_at = excluded.updated_at,
           reported = CASE WHEN multipart_chunks.etag = excluded.etag THEN multipart_chunks.reported ELSE FALSE END,
           etag = excluded.etag",
    )
    .bind(upload)
    .bind(i64::try_from(index).unwrap_or(i64::MAX))
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .bind(etag)
    .bind(part_etag)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct ChunkRow {
    pub chunk_index: i64,
    pub size: i64,
    pub etag: String,
    pub part_etag: Option<String>,
    /// `completed` once reported, else `pending`.
    pub status: String,
    pub uploaded_at: i64,
    pub updated_at: i64,
}

const CHUNK_COLUMNS: &str = "chunk_index, size, etag, part_etag,
    CASE WHEN reported THEN 'completed' ELSE 'pending' END AS status, uploaded_at, updated_at";

/// The stored chunks of a session, by index.
pub async fn chunks(pool: &Pool, upload: &str) -> sqlx::Result<Vec<ChunkRow>> {
    sqlx::query_as(&format!(
        "SELECT {CHUNK_COLUMNS} FROM multipart_chunks WHERE upload_id = $1 ORDER BY chunk_index"
    ))
    .bind(upload)
    .fetch_all(pool)
    .await
}

/// One stored chunk of a session.
pub async fn chunk(pool: &Pool, upload: &str, index: u64) -> sqlx::Result<Option<ChunkRow>> {
    sqlx::query_as(&format!(
        "SELECT {CHUNK_COLUMNS} FROM multipart_chunks WHERE upload_id = $1 AND chunk_index = $2"
    ))
    .bind(upload)
    .bind(i64::try_from(index).unwrap_or(i64::MAX))
    .fetch_optional(pool)
    .await
}

/// Forgets a stored chunk that is not reported (its storage is about to be
/// replaced); a reported one stays.
pub async fn forget_unreported_chunk(pool: &Pool, upload: &str, index: u64) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM multipart_chunks WHERE upload_id = $1 AND chunk_index = $2 AND NOT reported",
    )
    .bind(upload)
    .bind(i64::try_from(index).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a stored chunk reported, in one statement: true when this report
/// did it, false when it was reported already (a duplicate). Two reports of
/// one chunk at once count it once.
pub async fn report_chunk(pool: &Pool, upload: &str, index: u64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE multipart_chunks SET reported = TRUE, updated_at = $1
          WHERE upload_id = $2 AND chunk_index = $3 AND NOT reported",
    )
    .bind(now_millis())
    .bind(upload)
    .bind(i64::try_from(index).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many chunks of a session are reported.
pub async fn reported_count(executor: &Pool, upload: &str) -> sqlx::Result<u64> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM multipart_chunks WHERE upload_id = $1 AND reported")
            .bind(upload)
            .fetch_one(executor)
            .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Moves an active session to `status`; false when it was not active.
pub async fn close(conn: &mut Connection, upload: &str, status: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE multipart_uploads SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(status)
    .bind(now_millis())
    .bind(upload)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A page of the account's active sessions, newest first, and their count.
pub async fn list_active(
    pool: &Pool,
    account: AccountId,
    offset: u64,
    limit: u32,
) -> sqlx::Result<(Vec<UploadRow>, u64)> {
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM multipart_uploads WHERE account_id = $1 AND status = 'active'",
    )
    .bind(account.as_string())
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE account_id = $1 AND status = 'active'
          ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(account.as_string())
    .bind(i64::from(limit))
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}
