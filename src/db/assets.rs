//! The assets aggregate.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::inline_reads::InlineReads;
use super::{Pool, Reader, SqliteRow, Statement, Transaction};
use crate::domain::{
    AccountId, AssetId, AssetKind, AssetMethod, AssetStatus, Filename, Step, StepStatus,
};

/// Everything stored about an asset, typed.
#[derive(Debug, Clone)]
pub struct AssetRecord {
    pub id: AssetId,
    pub method: AssetMethod,
    pub status: AssetStatus,
    pub kind: AssetKind,
    pub filename: String,
    pub file_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub duration_seconds: Option<f64>,
    /// JSON object text, already in the wire's field names.
    pub technical_metadata: Option<String>,
    pub error_message: Option<String>,
    /// JSON object text.
    pub user_metadata: Option<String>,
    pub source_url: Option<String>,
    pub hls_status: Option<StepStatus>,
    pub hls_error: Option<String>,
    pub thumbnail_status: Option<StepStatus>,
    pub thumbnail_error: Option<String>,
    pub created_at: i64,
}

/// A row as the database hands it back; turned into an [`AssetRecord`] at once.
#[derive(FromRow)]
struct AssetRow {
    id: String,
    method: String,
    status: String,
    kind: String,
    filename: String,
    file_type: String,
    size_bytes: i64,
    sha256: String,
    duration_seconds: Option<f64>,
    technical_metadata: Option<String>,
    error_message: Option<String>,
    user_metadata: Option<String>,
    source_url: Option<String>,
    hls_status: Option<String>,
    hls_error: Option<String>,
    thumbnail_status: Option<String>,
    thumbnail_error: Option<String>,
    created_at: i64,
}

impl SqliteRow for AssetRow {
    /// The row as rusqlite reads it: [`COLUMNS`], by position (a lookup by
    /// name compares every column's name, for every field of every row).
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            method: row.get(1)?,
            status: row.get(2)?,
            kind: row.get(3)?,
            filename: row.get(4)?,
            file_type: row.get(5)?,
            size_bytes: row.get(6)?,
            sha256: row.get(7)?,
            duration_seconds: row.get(8)?,
            technical_metadata: row.get(9)?,
            error_message: row.get(10)?,
            user_metadata: row.get(11)?,
            source_url: row.get(12)?,
            hls_status: row.get(13)?,
            hls_error: row.get(14)?,
            thumbnail_status: row.get(15)?,
            thumbnail_error: row.get(16)?,
            created_at: row.get(17)?,
        })
    }
}

const COLUMNS: &str =
    "id, method, status, kind, filename, file_type, size_bytes, sha256, duration_seconds, \
     technical_metadata, error_message, user_metadata, source_url, hls_status, hls_error, thumbnail_status, \
     thumbnail_error, created_at";

impl TryFrom<AssetRow> for AssetRecord {
    type Error = sqlx::Error;

    fn try_from(row: AssetRow) -> Result<Self, Self::Error> {
        let bad = |what: &str, value: &str| {
            sqlx::Error::Decode(format!("asset {}: bad {what} '{value}'", row.id).into())
        };
        let step = |raw: Option<String>, what: &str| -> Result<Option<StepStatus>, sqlx::Error> {
            raw.map(|s| StepStatus::parse(&s).ok_or_else(|| bad(what, &s)))
                .transpose()
        };
        Ok(Self {
            id: AssetId::parse(&row.id).map_err(|_| bad("id", &row.id))?,
            method: AssetMethod::parse(&row.method).ok_or_else(|| bad("method", &row.method))?,
            status: AssetStatus::parse(&row.status).ok_or_else(|| bad("status", &row.status))?,
            kind: AssetKind::parse(&row.kind).map_err(|_| bad("kind", &row.kind))?,
            hls_status: step(row.hls_status.clone(), "hls_status")?,
            hls_error: row.hls_error,
            thumbnail_status: step(row.thumbnail_status.clone(), "thumbnail_status")?,
            thumbnail_error: row.thumbnail_error,
            filename: row.filename,
            file_type: row.file_type,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            sha256: row.sha256,
            duration_seconds: row.duration_seconds,
            technical_metadata: row.technical_metadata,
            error_message: row.error_message,
            user_metadata: row.user_metadata,
            source_url: row.source_url,
            created_at: row.created_at,
        })
    }
}

/// What a new asset row holds.
pub struct NewAsset<'a> {
    pub id: AssetId,
    pub account: AccountId,
    pub method: AssetMethod,
    pub status: AssetStatus,
    pub kind: AssetKind,
    pub filename: &'a Filename,
    pub file_type: &'a str,
    pub size_bytes: u64,
    pub sha256: &'a str,
    pub duration_seconds: Option<f64>,
    pub technical_metadata: Option<String>,
    pub error_message: Option<&'a str>,
    pub user_metadata: Option<String>,
    pub source_url: Option<&'a str>,
    pub hls_status: Option<StepStatus>,
    pub thumbnail_status: Option<StepStatus>,
    pub created_at: i64,
}

pub async fn insert(conn: &mut super::Connection, asset: &NewAsset<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO assets (id, account_id, method, status, kind, filename, filename_folded, file_type,
             size_bytes, sha256, duration_seconds, technical_metadata, error_message, user_metadata,
             source_url, hls_status, thumbnail_status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(asset.id.as_string())
    .bind(asset.account.as_string())
    .bind(asset.method.as_str())
    .bind(asset.status.as_str())
    .bind(asset.kind.as_str())
    .bind(asset.filename.as_str())
    .bind(asset.filename.folded())
    .bind(asset.file_type)
    .bind(i64::try_from(asset.size_bytes).unwrap_or(i64::MAX))
    .bind(asset.sha256)
    .bind(super::NullableDouble(asset.duration_seconds))
    .bind(asset.technical_metadata.as_deref())
    .bind(asset.error_message)
    .bind(asset.user_metadata.as_deref())
    .bind(asset.source_url)
    .bind(asset.hls_status.map(StepStatus::as_str))
    .bind(asset.thumbnail_status.map(StepStatus::as_str))
    .bind(asset.created_at)
    .bind(asset.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An asset of this account; in a transaction or on the pool.
pub async fn find<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    account: AccountId,
    id: AssetId,
) -> sqlx::Result<Option<AssetRecord>> {
    let row: Option<AssetRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM assets WHERE account_id = $1 AND id = $2"
    ))
    .bind(account.as_string())
    .bind(id.as_string())
    .fetch_optional(executor)
    .await?;
    row.map(AssetRecord::try_from).transpose()
}

/// [`find`] on the calling thread, for SQLite (see `inline_reads`).
pub fn find_inline(
    reads: &InlineReads,
    account: AccountId,
    id: AssetId,
) -> anyhow::Result<Option<AssetRecord>> {
    let row = reads.with(|connection| {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {COLUMNS} FROM assets WHERE account_id = ?1 AND id = ?2")
        });
        let mut statement = connection.prepare_cached(&SQL)?;
        let mut rows = statement.query((account.as_string(), id.as_string()))?;
        rows.next()?.map(AssetRow::from_sqlite).transpose()
    })?;
    Ok(row.map(AssetRecord::try_from).transpose()?)
}

/// An asset of any account: for the background steps and the signed media
/// URLs, whose permission was checked when they were made.
pub async fn find_any(pool: &Pool, id: AssetId) -> sqlx::Result<Option<AssetRecord>> {
    let row: Option<AssetRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM assets WHERE id = $1"))
            .bind(id.as_string())
            .fetch_optional(pool)
            .await?;
    row.map(AssetRecord::try_from).transpose()
}

/// A step's status, for serving its files: one small query per media request
/// (a player asks for every segment). None when the asset is gone or the step
/// was not requested.
pub async fn step_status(pool: &Pool, id: AssetId, step: Step) -> sqlx::Result<Option<StepStatus>> {
    let sql = match step {
        Step::Hls => "SELECT hls_status FROM assets WHERE id = $1",
        Step::Thumbnail => "SELECT thumbnail_status FROM assets WHERE id = $1",
    };
    let row: Option<(Option<String>,)> = sqlx::query_as(sql)
        .bind(id.as_string())
        .fetch_optional(pool)
        .await?;
    Ok(row
        .and_then(|(status,)| status)
        .and_then(|s| StepStatus::parse(&s)))
}

/// Records a step's progress. False when the asset is gone (deleted meanwhile).
pub async fn set_step<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: AssetId,
    step: Step,
    status: StepStatus,
    error: Option<&str>,
) -> sqlx::Result<bool> {
    let sql = match step {
        Step::Hls => "UPDATE assets SET hls_status = $1, hls_error = $2, updated_at = $3 WHERE id = $4",
        Step::Thumbnail => {
            "UPDATE assets SET thumbnail_status = $1, thumbnail_error = $2, updated_at = $3 WHERE id = $4"
        }
    };
    let done = sqlx::query(sql)
        .bind(status.as_str())
        .bind(error)
        .bind(super::now_millis())
        .bind(id.as_string())
        .execute(executor)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a `failed` asset back to `processing` (its probe or download is to be
/// tried again); its requested steps go back to `pending`. False when it is
/// gone or not failed.
pub async fn reopen(conn: &mut super::Connection, id: AssetId) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE assets SET status = 'processing', error_message = NULL, updated_at = $1,
                hls_status = CASE WHEN hls_status IS NULL THEN NULL ELSE 'pending' END,
                hls_error = NULL,
                thumbnail_status = CASE WHEN thumbnail_status IS NULL THEN NULL ELSE 'pending' END,
                thumbnail_error = NULL
          WHERE id = $2 AND status = 'failed'",
    )
    .bind(super::now_millis())
    .bind(id.as_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a successful probe of a `processing` asset. Returns the steps it asked
/// for, or None when it is gone or no longer processing.
pub async fn mark_ready(
    conn: &mut super::Connection,
    id: AssetId,
    kind: AssetKind,
    file_type: &str,
    duration: Option<f64>,
    technical_metadata: &str,
) -> sqlx::Result<Option<Vec<Step>>> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "UPDATE assets SET status = 'ready', kind = $1, file_type = $2, duration_seconds = $3,
                technical_metadata = $4, updated_at = $5
          WHERE id = $6 AND status = 'processing'
         RETURNING thumbnail_status, hls_status",
    )
    .bind(kind.as_str())
    .bind(file_type)
    .bind(super::NullableDouble(duration))
    .bind(technical_metadata)
    .bind(super::now_millis())
    .bind(id.as_string())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(thumbnail, hls)| {
        [(thumbnail, Step::Thumbnail), (hls, Step::Hls)]
            .into_iter()
            .filter(|(status, _)| status.is_some())
            .map(|(_, step)| step)
            .collect()
    }))
}

/// Records that a `processing` asset failed; its requested steps become errors.
/// None when it is gone or no longer processing.
pub async fn mark_failed(
    conn: &mut super::Connection,
    id: AssetId,
    message: &str,
) -> sqlx::Result<Option<()>> {
    let done = sqlx::query(
        "UPDATE assets SET status = 'failed', error_message = $1, updated_at = $2,
                hls_status = CASE WHEN hls_status IS NULL THEN NULL ELSE 'error' END,
                thumbnail_status = CASE WHEN thumbnail_status IS NULL THEN NULL ELSE 'error' END
          WHERE id = $3 AND status = 'processing'",
    )
    .bind(message)
    .bind(super::now_millis())
    .bind(id.as_string())
    .execute(conn)
    .await?;
    Ok((done.rows_affected() == 1).then_some(()))
}

/// Records the downloaded file of a URL asset.
pub async fn set_file(
    pool: &Pool,
    id: AssetId,
    size_bytes: u64,
    sha256: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE assets SET size_bytes = $1, sha256 = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(i64::try_from(size_bytes).unwrap_or(i64::MAX))
    .bind(sha256)
    .bind(super::now_millis())
    .bind(id.as_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Filters of the asset list.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct ListFilter {
    /// Empty means any id.
    pub asset_ids: Vec<AssetId>,
    /// None means any kind; an empty list matches nothing.
    pub kinds: Option<Vec<AssetKind>>,
    /// Already folded to lower case; matched as a literal substring.
    pub filename_contains: Option<String>,
}

/// Appends the filter's conditions on `assets` (its name as a LIKE, tested
/// on each row that the ids or the newest-first index lead to).
fn push_filter(
    statement: &mut Statement,
    dialect: super::Dialect,
    account: AccountId,
    filter: &ListFilter,
) {
    // With ids, SQLite's planner (which has no statistics) walked the
    // account's newest-first index for the ORDER BY and tested each row
    // against the ids, rather than look up the at most 100 ids: 210 ms for
    // 3 old ids at 1 M. A unary `+` keeps `account_id` off that index.
    let ids_first = !filter.asset_ids.is_empty() && dialect == super::Dialect::Sqlite;
    statement
        .push(if ids_first {
            " WHERE +account_id = "
        } else {
            " WHERE account_id = "
        })
        .push_bind(account.as_string());
    if !filter.asset_ids.is_empty() {
        statement
            .push(" AND id IN ")
            .push_list(filter.asset_ids.iter().map(AssetId::as_string));
    }
    push_kinds(statement, "kind", filter);
    if let Some(needle) = &filter.filename_contains {
        statement
            .push(" AND filename_folded LIKE ")
            .push_bind(format!("%{}%", escape_like(needle)))
            .push(" ESCAPE '\\'");
    }
}

/// Appends the filter's kinds as a condition on this column (of `assets`,
/// or of the kept counts, which have kinds, not ids).
fn push_kinds(statement: &mut Statement, kind_column: &str, filter: &ListFilter) {
    match filter.kinds.as_deref() {
        None => {}
        Some([]) => {
            statement.push(" AND 1 = 0");
        }
        Some(wanted) => {
            statement
                .push(&format!(" AND {kind_column} IN "))
                .push_list(wanted.iter().map(|kind| kind.as_str()));
        }
    }
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern.
pub fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Appends the order of every list, newest first (ties broken by id), and the page.
fn push_page(statement: &mut Statement, dialect: super::Dialect, offset: u64, limit: u32) {
    statement
        .push(" ORDER BY created_at DESC, id DESC")
        .push_page_bounds(dialect, offset, limit);
}

/// From this offset on, a page of the kinds-only list seeks its day first.
const DEEP_OFFSET: u64 = 5_000;
const DAY_MILLIS: i64 = 86_400_000;

/// Where a page at `offset` of the account's assets of the filter's kinds
/// starts, from the counts kept per day: the end of the day its first row
/// falls on, and how many rows created before that end come first.
async fn seek_day(
    reader: Reader<'_>,
    account: AccountId,
    filter: &ListFilter,
    offset: u64,
) -> sqlx::Result<Option<(i64, u64)>> {
    let mut days =
        Statement::new("SELECT day, CAST(SUM(n) AS BIGINT) FROM asset_days WHERE account_id = ");
    days.push_bind(account.as_string());
    push_kinds(&mut days, "kind", filter);
    days.push(" GROUP BY day ORDER BY day DESC");
    let mut later = 0u64;
    for (day, n) in reader.fetch_all::<(i64, i64)>(&days).await? {
        let n = u64::try_from(n).unwrap_or(0);
        if later + n > offset {
            return Ok(Some(((day + 1) * DAY_MILLIS, offset - later)));
        }
        later += n;
    }
    Ok(None)
}

/// How many of an account's assets pass a filter without a name, or with
/// ids: from the counts the triggers keep per account and kind when only
/// kinds filter (a million assets are not counted one by one), else from
/// the rows of the ids (at most 100). `bounded` runs reads whose cost an
/// index bounds (inline on SQLite).
async fn count(
    (bounded, dialect): (Reader<'_>, super::Dialect),
    account: AccountId,
    filter: &ListFilter,
) -> sqlx::Result<u64> {
    if filter.asset_ids.is_empty() {
        return kept_count(bounded, account, filter).await;
    }
    let mut count = Statement::new("SELECT COUNT(*) FROM assets");
    push_filter(&mut count, dialect, account, filter);
    let (total,): (i64,) = bounded.fetch_one(&count).await?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// How many of the account's assets are of the filter's kinds (ids and name
/// aside), from the counts the triggers keep per account and kind.
async fn kept_count(
    bounded: Reader<'_>,
    account: AccountId,
    filter: &ListFilter,
) -> sqlx::Result<u64> {
    let mut count = Statement::new(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM asset_counts WHERE account_id = ",
    );
    count.push_bind(account.as_string());
    push_kinds(&mut count, "kind", filter);
    let (total,): (i64,) = bounded.fetch_one(&count).await?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// One page of an account's assets, newest first (ties broken by id), and
/// the total count. A name without ids is searched in the filename
/// postings (`db::name_grams`), which find the page's documents; then only
/// their rows are read. Any other list runs on the calling thread on SQLite
/// (`inline`): its counts are kept (or its ids few) and its page is read
/// from the newest-first index (or the ids), so its cost is bounded.
pub async fn list(
    pool: &Pool,
    inline: Option<&InlineReads>,
    account: AccountId,
    filter: &ListFilter,
    offset: u64,
    limit: u32,
) -> sqlx::Result<(Vec<AssetRecord>, u64)> {
    let dialect = super::Dialect::of(pool);
    if let (Some(needle), true) = (&filter.filename_contains, filter.asset_ids.is_empty()) {
        let kinds = filter.kinds.as_deref();
        let window = (offset, u64::from(limit));
        let found = super::name_grams::search(pool, inline, account, needle, kinds, window).await?;
        if found.documents.is_empty() {
            return Ok((Vec::new(), found.total));
        }
        let page = page_of_documents(dialect, account, filter, &found, limit);
        let rows: Vec<AssetRow> = Reader::Pool(pool).fetch_all(&page).await?;
        return Ok((records(rows)?, found.total));
    }

    let reader = inline.map_or(Reader::Pool(pool), Reader::Inline);
    let total = count((reader, dialect), account, filter).await?;
    if offset >= total {
        return Ok((Vec::new(), total));
    }
    // The page's ids first, then only those rows: from the newest-first
    // index alone, a deep page skips index entries, not rows; and only
    // within its first row's day, when the kept day counts can tell.
    let mut page = Statement::new(format!("SELECT {COLUMNS} FROM assets WHERE id IN ("));
    page.push("SELECT id FROM assets");
    push_filter(&mut page, dialect, account, filter);
    let mut skip = offset;
    let kinds_only = filter.asset_ids.is_empty() && filter.filename_contains.is_none();
    if kinds_only && offset >= DEEP_OFFSET {
        if let Some((end, within)) = seek_day(reader, account, filter, offset).await? {
            page.push(" AND created_at < ").push_bind(end);
            skip = within;
        }
    }
    push_page(&mut page, dialect, skip, limit);
    page.push(") ORDER BY created_at DESC, id DESC");
    let rows: Vec<AssetRow> = reader.fetch_all(&page).await?;
    Ok((records(rows)?, total))
}

fn records(rows: Vec<AssetRow>) -> sqlx::Result<Vec<AssetRecord>> {
    rows.into_iter().map(AssetRecord::try_from).collect()
}

/// The statement of a page of a name search's documents (`found`) of the
/// account: each one's row found by its number (SQLite: in `asset_search`,
/// whose number is the account's number << 40 | its kind's code << 36 |
/// the document, migration 20261203000002, so one lookup per kind it may
/// be of; PostgreSQL: `assets.doc`, migration 20261204000001); their ids
/// sorted and cut to the page first, then only the page's rows read (2.5
/// times faster than sorting 512 whole rows, on SQLite).
fn page_of_documents(
    dialect: super::Dialect,
    account: AccountId,
    filter: &ListFilter,
    found: &super::name_grams::NamePage,
    limit: u32,
) -> Statement {
    let mut page = Statement::new(format!(
        "SELECT {COLUMNS} FROM assets WHERE id IN (SELECT id FROM "
    ));
    // Bound as one text: a JSON array for SQLite's json_each, an array
    // literal for PostgreSQL.
    let documents: Vec<String> = found.documents.iter().map(i64::to_string).collect();
    let documents = documents.join(",");
    match dialect {
        super::Dialect::Sqlite => {
            // CROSS JOIN keeps this order: the account's number, the kinds'
            // codes, then each document by its integer key.
            page.push(
                "assets WHERE id IN (SELECT s.asset_id FROM search_accounts n
                 CROSS JOIN search_kinds k CROSS JOIN json_each(",
            )
            .push_bind(format!("[{documents}]"))
            .push(") j CROSS JOIN asset_search s WHERE n.account_id = ")
            .push_bind(account.as_string());
            push_kinds(&mut page, "k.kind", filter);
            page.push(" AND s.doc = (n.number << 40) + (k.code << 36) + j.value)");
        }
        super::Dialect::Postgres => {
            // The documents' rows first, in a subquery that `OFFSET 0`
            // keeps apart: else PostgreSQL may walk the newest-first index
            // for the ORDER BY, testing every row against the documents
            // (at 10 k, for 1,000 old matches: 186 ms against 3.2).
            page.plan_with_values()
                .push("(SELECT id, created_at FROM assets WHERE account_id = ")
                .push_bind(account.as_string())
                .push(" AND doc = ANY(CAST(")
                .push_bind(format!("{{{documents}}}"))
                .push(" AS BIGINT[]))");
            push_kinds(&mut page, "kind", filter);
            page.push(" OFFSET 0) m");
        }
    }
    push_page(&mut page, dialect, found.skip, limit);
    page.push(") ORDER BY created_at DESC, id DESC");
    page
}

/// Deletes the row, in one statement that also checks that no indexed asset
/// references it (a forced delete removes the references first). False when
/// the account has no such asset, or when it is referenced.
pub async fn delete(
    tx: &mut Transaction<'_>,
    account: AccountId,
    id: AssetId,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "DELETE FROM assets WHERE account_id = $1 AND id = $2
           AND NOT EXISTS (SELECT 1 FROM indexed_assets WHERE asset_id = assets.id)",
    )
    .bind(account.as_string())
    .bind(id.as_string())
    .execute(&mut **tx)
    .await;
    match done {
        Ok(done) => Ok(done.rows_affected() == 1),
        // A reference committed while this statement ran.
        Err(e) if super::is_foreign_key_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Up to `limit` assets of any account with ids after `after`, in id order:
/// a walk over every row (for `assetd fsck`) that uses the primary key.
pub async fn page_by_id(
    pool: &Pool,
    after: Option<AssetId>,
    limit: u32,
) -> sqlx::Result<Vec<AssetRecord>> {
    let rows: Vec<AssetRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM assets WHERE $1 IS NULL OR id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.map(|id| id.as_string()))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(AssetRecord::try_from).collect()
}

/// Marks an asset failed whatever its state (its stored file is gone); its
/// requested steps become errors. False when it is gone.
pub async fn mark_lost<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: AssetId,
    message: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE assets SET status = 'failed', error_message = $1, updated_at = $2,
                hls_status = CASE WHEN hls_status IS NULL THEN NULL ELSE 'error' END,
                thumbnail_status = CASE WHEN thumbnail_status IS NULL THEN NULL ELSE 'error' END
          WHERE id = $3",
    )
    .bind(message)
    .bind(super::now_millis())
    .bind(id.as_string())
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The user metadata (JSON text) of an asset of this account: None when there
/// is no such asset, Some(None) when it carries none.
pub async fn user_metadata(
    pool: &Pool,
    account: AccountId,
    id: AssetId,
) -> sqlx::Result<Option<Option<String>>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT user_metadata FROM assets WHERE account_id = $1 AND id = $2")
            .bind(account.as_string())
            .bind(id.as_string())
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(metadata,)| metadata))
}

/// Sets an asset's user metadata to `new` if it is still `old` (so that two
/// changes at once never lose one: the loser reads again). False when it
/// changed meanwhile, or the asset is gone.
pub async fn swap_user_metadata(
    pool: &Pool,
    account: AccountId,
    id: AssetId,
    old: Option<&str>,
    new: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE assets SET user_metadata = $1, updated_at = $2
          WHERE account_id = $3 AND id = $4 AND user_metadata IS NOT DISTINCT FROM $5",
    )
    .bind(new)
    .bind(super::now_millis())
    .bind(account.as_string())
    .bind(id.as_string())
    .bind(old)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Which of these ids have a row (any account); used by the orphan sweep.
pub async fn existing_ids(pool: &Pool, ids: &[String]) -> sqlx::Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = Statement::new("SELECT id FROM assets WHERE id IN ");
    statement.push_list(ids.to_vec());
    let rows: Vec<(String,)> = statement.query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
        assert_eq!(escape_like("plain"), "plain");
    }
}
