//! `/v1.3/indexes` and their indexed assets: the holders of references that
//! guard asset deletes. There is no model to run here, so an index is a named
//! collection and an indexed asset is `ready` as soon as it is made.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::assets::{metadata_error, MetadataBody};
use super::auth::Account;
use super::error::ApiError;
use super::extractors::{Json, Path, Query};
use super::indexed_filter::IndexedQuery;
use super::paging::{by_updated, descending, ListView, Paging};
use super::AppState;
use crate::assets::{change_user_metadata, MetadataChange, MetadataOwner};
use crate::db;
use crate::db::indexes::{IndexOrder, IndexRow, IndexedAssetRow, IndexedFilter, IndexedScope};
use crate::domain::{
    AccountId, AssetId, AssetStatus, IndexId, IndexedAssetId, Timestamp, UserMetadata,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/indexes", get(list).post(create))
        .route(
            "/indexes/{index_id}",
            get(retrieve).put(rename).delete(remove),
        )
        .route(
            "/indexes/{index_id}/indexed-assets",
            get(list_indexed).post(create_indexed),
        )
        .route(
            "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
            get(retrieve_indexed)
                .patch(update_indexed)
                .delete(remove_indexed),
        )
        .route("/assets/{asset_id}/indexed-assets", get(list_by_asset))
}

fn index_not_found(raw: &str) -> ApiError {
    ApiError::not_found("index", raw)
}

fn index_id(raw: &str) -> Result<IndexId, ApiError> {
    IndexId::parse(raw).map_err(|_| index_not_found(raw))
}

fn indexed_asset_not_found(raw: &str) -> ApiError {
    ApiError::not_found("indexed asset", raw)
}

fn asset_not_found(raw: &str) -> ApiError {
    ApiError::not_found("asset", raw)
}

// ---------------------------------------------------------------- indexes

#[derive(Serialize)]
struct IndexView {
    #[serde(rename = "_id")]
    id: String,
    index_name: String,
    models: Value,
    addons: Value,
    video_count: i64,
    total_duration: f64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<IndexRow> for IndexView {
    fn from(row: IndexRow) -> Self {
        Self {
            id: row.id,
            index_name: row.index_name,
            models: serde_json::from_str(&row.models).unwrap_or(Value::Null),
            addons: serde_json::from_str(&row.addons).unwrap_or_else(|_| json!([])),
            video_count: row.video_count,
            total_duration: row.total_duration,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        }
    }
}

#[derive(Deserialize)]
struct CreateIndex {
    index_name: Option<String>,
    models: Option<Value>,
    addons: Option<Vec<String>>,
}

/// An index name: 1 to 255 characters, not only spaces.
fn index_name(raw: Option<String>) -> Result<String, ApiError> {
    let name = raw.ok_or(ApiError::ParameterNotProvided("index_name"))?;
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(ApiError::invalid(
            "index_name",
            "it must be 1 to 255 characters long",
        ));
    }
    Ok(name)
}

/// `models` is stored as given once it has the platform's shape: a non-empty
/// array of `{"model_name": "...", "model_options": ["...", ...]}`.
fn check_models(models: &Value) -> Result<(), ApiError> {
    let shaped = |m: &Value| {
        m["model_name"].as_str().is_some_and(|n| !n.is_empty())
            && m.get("model_options")
                .is_none_or(|o| o.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
    };
    match models.as_array() {
        Some(list) if !list.is_empty() && list.iter().all(shaped) => Ok(()),
        _ => Err(ApiError::invalid(
            "models",
            "it must be a non-empty array of objects with model_name and model_options",
        )),
    }
}

async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    Json(body): Json<CreateIndex>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = index_name(body.index_name)?;
    let models = body
        .models
        .ok_or(ApiError::ParameterNotProvided("models"))?;
    check_models(&models)?;
    let addons = json!(body.addons.unwrap_or_default());
    let id = IndexId::new();
    db::indexes::insert_index(
        &state.pool,
        account,
        id,
        &name,
        &models.to_string(),
        &addons.to_string(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"_id": id.as_string()}))))
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<String>,
    page_limit: Option<String>,
    index_name: Option<String>,
    sort_by: Option<String>,
    sort_option: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Account(account): Account,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListView<IndexView>>, ApiError> {
    let paging = Paging::parse(query.page.as_deref(), query.page_limit.as_deref())?;
    let order = IndexOrder {
        by_updated: by_updated(query.sort_by.as_deref())?,
        descending: descending(query.sort_option.as_deref())?,
    };
    let name = query.index_name.as_deref().filter(|n| !n.is_empty());
    let (rows, total) = db::indexes::list_indexes(
        &state.pool,
        account,
        name,
        order,
        paging.offset(),
        paging.limit.get(),
    )
    .await?;
    Ok(Json(paging.page_of(
        rows.into_iter().map(IndexView::from).collect(),
        total,
    )))
}

async fn find_index(state: &AppState, account: AccountId, raw: &str) -> Result<IndexRow, ApiError> {
    db::indexes::find_index(&state.pool, account, index_id(raw)?)
        .await?
        .ok_or_else(|| index_not_found(raw))
}

async fn retrieve(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw): Path<String>,
) -> Result<Json<IndexView>, ApiError> {
    Ok(Json(find_index(&state, account, &raw).await?.into()))
}

#[derive(Deserialize)]
struct RenameIndex {
    index_name: Option<String>,
}

async fn rename(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw): Path<String>,
    Json(body): Json<RenameIndex>,
) -> Result<StatusCode, ApiError> {
    let name = index_name(body.index_name)?;
    if !db::indexes::rename_index(&state.pool, account, index_id(&raw)?, &name).await? {
        return Err(index_not_found(&raw));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !db::indexes::delete_index(&state.pool, account, index_id(&raw)?).await? {
        return Err(index_not_found(&raw));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- indexed assets

#[derive(Serialize)]
struct IndexedAssetView {
    #[serde(rename = "_id")]
    id: String,
    index_id: String,
    asset_id: String,
    status: String,
    created_at: Timestamp,
    updated_at: Timestamp,
    indexed_at: Timestamp,
    system_metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_metadata: Option<Value>,
}

impl From<IndexedAssetRow> for IndexedAssetView {
    fn from(row: IndexedAssetRow) -> Self {
        let technical: Value = row
            .technical_metadata
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let mut system = json!({"filename": row.filename, "size": row.size_bytes});
        let mut put = |key: &str, value: Value| {
            if !value.is_null() {
                system[key] = value;
            }
        };
        put("duration", row.duration_seconds.into());
        put("fps", technical["video_fps"].clone());
        put("width", technical["video_width"].clone());
        put("height", technical["video_height"].clone());
        Self {
            id: row.id,
            index_id: row.index_id,
            asset_id: row.asset_id,
            status: row.status,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
            // Nothing to index here: an indexed asset is ready when it is made.
            indexed_at: Timestamp::from_millis(row.created_at),
            system_metadata: system,
            user_metadata: row
                .user_metadata
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok()),
        }
    }
}

#[derive(Deserialize)]
struct CreateIndexed {
    asset_id: Option<String>,
    enable_video_stream: Option<bool>,
    user_metadata: Option<Value>,
}

async fn create_indexed(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_index): Path<String>,
    Json(body): Json<CreateIndexed>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let index = index_id(&raw_index)?;
    let raw_asset = body
        .asset_id
        .ok_or(ApiError::ParameterNotProvided("asset_id"))?;
    let asset = AssetId::parse(&raw_asset).map_err(|_| asset_not_found(&raw_asset))?;
    let user_metadata = match body.user_metadata.filter(|m| !m.is_null()) {
        Some(value) => Some(
            UserMetadata::parse(&value.to_string())
                .map_err(|e| ApiError::invalid("user_metadata", e.0))?
                .to_json(),
        ),
        None => None,
    };
    let id = IndexedAssetId::new();
    let made = db::indexes::insert_indexed_asset(
        &state.pool,
        account,
        index,
        id,
        asset,
        body.enable_video_stream,
        user_metadata.as_deref(),
    )
    .await?;
    if made {
        return Ok((
            StatusCode::CREATED,
            Json(json!({"_id": id.as_string(), "asset_id": asset.as_string()})),
        ));
    }
    // Say which check failed: the insert checked all of them at once.
    if db::indexes::find_index(&state.pool, account, index)
        .await?
        .is_none()
    {
        return Err(index_not_found(&raw_index));
    }
    match db::assets::find(&state.pool, account, asset).await? {
        None => Err(asset_not_found(&raw_asset)),
        Some(a) if a.status == AssetStatus::Processing => Err(ApiError::invalid(
            "asset_id",
            "the asset is still processing; index it once it is ready",
        )),
        Some(a) if a.status == AssetStatus::Failed => Err(ApiError::invalid(
            "asset_id",
            "the asset failed to process and cannot be indexed",
        )),
        // Ready now: it became ready, or was deleted and re-made, in between. Try again.
        Some(_) => Err(ApiError::invalid(
            "asset_id",
            "the asset changed while it was being indexed; try again",
        )),
    }
}

#[derive(Deserialize)]
struct IndexedListQuery {
    page: Option<String>,
    page_limit: Option<String>,
    sort_option: Option<String>,
}

async fn list_indexed(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_index): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<ListView<IndexedAssetView>>, ApiError> {
    let query = IndexedQuery::parse(raw_query.as_deref())?;
    let index = index_id(&raw_index)?;
    find_index(&state, account, &raw_index).await?;
    let (rows, total) = db::indexes::list_indexed_assets(
        &state.pool,
        account,
        IndexedScope::Index(index),
        &query.filter,
        query.paging.offset(),
        query.paging.limit.get(),
    )
    .await?;
    Ok(Json(query.paging.page_of(
        rows.into_iter().map(IndexedAssetView::from).collect(),
        total,
    )))
}

async fn retrieve_indexed(
    State(state): State<AppState>,
    Account(account): Account,
    Path((raw_index, raw_id)): Path<(String, String)>,
) -> Result<Json<IndexedAssetView>, ApiError> {
    let index = index_id(&raw_index)?;
    let id = IndexedAssetId::parse(&raw_id).map_err(|_| indexed_asset_not_found(&raw_id))?;
    let row = db::indexes::find_indexed_asset(&state.pool, account, index, id)
        .await?
        .ok_or_else(|| indexed_asset_not_found(&raw_id))?;
    Ok(Json(row.into()))
}

/// PATCH: merges `user_metadata` into the indexed asset's (null removes a
/// key), as for an asset; 204.
async fn update_indexed(
    State(state): State<AppState>,
    Account(account): Account,
    Path((raw_index, raw_id)): Path<(String, String)>,
    Json(body): Json<MetadataBody>,
) -> Result<StatusCode, ApiError> {
    let index = index_id(&raw_index)?;
    let id = IndexedAssetId::parse(&raw_id).map_err(|_| indexed_asset_not_found(&raw_id))?;
    let change = MetadataChange::Merge(body.metadata()?);
    let owner = MetadataOwner::IndexedAsset(index, id);
    change_user_metadata(&state.pool, account, owner, change)
        .await
        .map_err(|e| metadata_error(e, || indexed_asset_not_found(&raw_id)))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_indexed(
    State(state): State<AppState>,
    Account(account): Account,
    Path((raw_index, raw_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let index = index_id(&raw_index)?;
    let id = IndexedAssetId::parse(&raw_id).map_err(|_| indexed_asset_not_found(&raw_id))?;
    if !db::indexes::delete_indexed_asset(&state.pool, account, index, id).await? {
        return Err(indexed_asset_not_found(&raw_id));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct IndexedAssetSummary {
    #[serde(rename = "_id")]
    id: String,
    index: Value,
}

async fn list_by_asset(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_asset): Path<String>,
    Query(query): Query<IndexedListQuery>,
) -> Result<Json<ListView<IndexedAssetSummary>>, ApiError> {
    let paging = Paging::parse(query.page.as_deref(), query.page_limit.as_deref())?;
    let asset = AssetId::parse(&raw_asset).map_err(|_| asset_not_found(&raw_asset))?;
    if db::assets::find(&state.pool, account, asset)
        .await?
        .is_none()
    {
        return Err(asset_not_found(&raw_asset));
    }
    let filter = IndexedFilter {
        descending: descending(query.sort_option.as_deref())?,
        ..IndexedFilter::default()
    };
    let (rows, total) = db::indexes::list_indexed_assets(
        &state.pool,
        account,
        IndexedScope::Asset(asset),
        &filter,
        paging.offset(),
        paging.limit.get(),
    )
    .await?;
    let data = rows
        .into_iter()
        .map(|r| IndexedAssetSummary {
            id: r.id,
            index: json!({"_id": r.index_id, "name": r.index_name}),
        })
        .collect();
    Ok(Json(paging.page_of(data, total)))
}
