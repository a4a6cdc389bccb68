//! `/v1.3/indexes` and their indexed assets: the holders of references that
//! guard asset deletes. There is no model to run here, so an index is a named
//! collection and an indexed asset is `ready` as soon as it is made.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::assets::{metadata_error, MetadataBody};
use super::auth::Account;
use super::error::{ApiError, ErrorBody};
use super::extractors::{Json, Path, Query};
use super::indexed_filter::{IndexedListParams, IndexedQuery, IndexedStatus};
use super::paging::{by_updated, descending, ListView, PageQuery, Paging, SortOption, SortQuery};
use super::AppState;
use crate::assets::{change_user_metadata, MetadataChange, MetadataOwner};
use crate::db;
use crate::db::indexes::{IndexOrder, IndexRow, IndexedAssetRow, IndexedFilter, IndexedScope};
use crate::domain::{
    printable, AccountId, AssetId, AssetStatus, IndexId, IndexedAssetId, Timestamp, UserMetadata,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(retrieve, rename, remove))
        .routes(routes!(list_indexed, create_indexed))
        .routes(routes!(retrieve_indexed, update_indexed, remove_indexed))
        .routes(routes!(list_by_asset))
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

/// A model an index names, as the platform's indexes do; nothing runs here.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ModelSpec {
    #[schema(min_length = 1)]
    model_name: String,
    model_options: Option<Vec<String>>,
}

/// An index.
#[derive(Serialize, ToSchema)]
#[schema(as = Index)]
struct IndexView {
    #[serde(rename = "_id")]
    id: String,
    index_name: String,
    /// As given when the index was made.
    #[schema(value_type = Vec<ModelSpec>)]
    models: Value,
    #[schema(value_type = Vec<String>)]
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

#[derive(Deserialize, ToSchema)]
struct CreateIndex {
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    index_name: Option<String>,
    #[schema(value_type = Vec<ModelSpec>, min_items = 1)]
    models: Option<Value>,
    addons: Option<Vec<String>>,
}

/// The id of what was made.
#[derive(Serialize, ToSchema)]
struct Created {
    #[serde(rename = "_id")]
    id: String,
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
    printable(&name).map_err(|e| ApiError::invalid("index_name", e.0))?;
    Ok(name)
}

/// `models` is stored as given once it has the platform's shape: a non-empty
/// array of `{"model_name": "...", "model_options": ["...", ...]}`.
fn check_models(models: &Value) -> Result<(), ApiError> {
    let shaped = |m: &Value| {
        m["model_name"].as_str().is_some_and(|n| !n.is_empty())
            && m.get("model_options")
                .filter(|o| !o.is_null())
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

/// Create an index (a named collection of references to assets).
#[utoipa::path(
    post,
    operation_id = "create_index",
    path = "/indexes",
    tag = "indexes",
    security(("apiKey" = [])),
    request_body = CreateIndex,
    responses(
        (status = 201, description = "The new index's id.", body = Created, links(
            ("retrieve" = (operation_id = "retrieve_index", parameters(("index_id" = "$response.body#/_id")))),
            ("rename" = (operation_id = "rename_index", parameters(("index_id" = "$response.body#/_id")))),
            ("delete" = (operation_id = "delete_index", parameters(("index_id" = "$response.body#/_id")))),
            ("list_indexed_assets" = (operation_id = "list_indexed_assets", parameters(("index_id" = "$response.body#/_id")))),
        )),
        (status = 400, description = "A field is missing or invalid.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    Json(body): Json<CreateIndex>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(Created { id: id.as_string() })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A case-insensitive substring of the name.
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    index_name: Option<String>,
}

/// List the account's indexes.
#[utoipa::path(
    get,
    operation_id = "list_indexes",
    path = "/indexes",
    tag = "indexes",
    security(("apiKey" = [])),
    params(PageQuery, SortQuery, ListQuery),
    responses(
        (status = 200, description = "One page.", body = ListView<IndexView>),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    Account(account): Account,
    paging: Paging,
    Query(sort): Query<SortQuery>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListView<IndexView>>, ApiError> {
    let order = IndexOrder {
        by_updated: by_updated(sort.sort_by.as_deref())?,
        descending: descending(sort.sort_option.as_deref())?,
    };
    let name = query
        .index_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(printable)
        .transpose()
        .map_err(|e| ApiError::invalid("index_name", e.0))?;
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

/// Retrieve an index.
#[utoipa::path(
    get,
    operation_id = "retrieve_index",
    path = "/indexes/{index_id}",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path)),
    responses(
        (status = 200, description = "The index.", body = IndexView),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such index in this account.", body = ErrorBody),
    ),
)]
async fn retrieve(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw): Path<String>,
) -> Result<Json<IndexView>, ApiError> {
    Ok(Json(find_index(&state, account, &raw).await?.into()))
}

#[derive(Deserialize, ToSchema)]
struct RenameIndex {
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    index_name: Option<String>,
}

/// Rename an index.
#[utoipa::path(
    put,
    operation_id = "rename_index",
    path = "/indexes/{index_id}",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path)),
    request_body = RenameIndex,
    responses(
        (status = 204, description = "Renamed."),
        (status = 400, description = "The name is missing or invalid.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such index in this account.", body = ErrorBody),
    ),
)]
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

/// Delete an index and its indexed assets (releasing their references).
#[utoipa::path(
    delete,
    operation_id = "delete_index",
    path = "/indexes/{index_id}",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such index in this account.", body = ErrorBody),
    ),
)]
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

/// An indexed asset: an index's reference to an asset.
#[derive(Serialize, ToSchema)]
#[schema(as = IndexedAsset)]
struct IndexedAssetView {
    #[serde(rename = "_id")]
    id: String,
    index_id: String,
    asset_id: String,
    /// Always `ready`: nothing is indexed here.
    #[schema(value_type = IndexedStatus)]
    status: String,
    created_at: Timestamp,
    updated_at: Timestamp,
    indexed_at: Timestamp,
    system_metadata: SystemMetadata,
    /// Only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<Object>)]
    user_metadata: Option<Value>,
}

/// What the asset is, from its probe; a measure it does not have is left out.
#[derive(Serialize, ToSchema)]
struct SystemMetadata {
    filename: String,
    /// Bytes.
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    width: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    height: Option<u64>,
}

impl From<IndexedAssetRow> for IndexedAssetView {
    fn from(row: IndexedAssetRow) -> Self {
        let technical: Value = row
            .technical_metadata
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let system = SystemMetadata {
            filename: row.filename,
            size: row.size_bytes,
            duration: row.duration_seconds,
            fps: technical["video_fps"].as_f64(),
            width: technical["video_width"].as_u64(),
            height: technical["video_height"].as_u64(),
        };
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

#[derive(Deserialize, ToSchema)]
struct CreateIndexed {
    /// A ready asset of the same account.
    #[schema(value_type = String)]
    asset_id: Option<String>,
    enable_video_stream: Option<bool>,
    #[schema(value_type = Option<UserMetadata>)]
    user_metadata: Option<Value>,
}

/// What an indexed asset's create answers.
#[derive(Serialize, ToSchema)]
struct CreatedIndexed {
    #[serde(rename = "_id")]
    id: String,
    asset_id: String,
}

/// Reference a ready asset of the same account from the index.
#[utoipa::path(
    post,
    operation_id = "create_indexed_asset",
    path = "/indexes/{index_id}/indexed-assets",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path)),
    request_body = CreateIndexed,
    responses(
        (status = 201, description = "The new indexed asset (ready at once).", body = CreatedIndexed, links(
            ("retrieve" = (operation_id = "retrieve_indexed_asset", parameters(("indexed_asset_id" = "$response.body#/_id"), ("index_id" = "$request.path.index_id")))),
            ("update" = (operation_id = "update_indexed_asset", parameters(("indexed_asset_id" = "$response.body#/_id"), ("index_id" = "$request.path.index_id")))),
            ("delete" = (operation_id = "delete_indexed_asset", parameters(("indexed_asset_id" = "$response.body#/_id"), ("index_id" = "$request.path.index_id")))),
        )),
        (status = 400, description = "A field is missing or invalid, or the asset is not ready.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such index or asset in this account.", body = ErrorBody),
    ),
)]
async fn create_indexed(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_index): Path<String>,
    Json(body): Json<CreateIndexed>,
) -> Result<(StatusCode, Json<CreatedIndexed>), ApiError> {
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
            Json(CreatedIndexed {
                id: id.as_string(),
                asset_id: asset.as_string(),
            }),
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

/// List the index's indexed assets.
///
/// Filters as both SDKs send them, all combined with AND: `status` repeated
/// (any of), ranges as `duration[gte]`/`duration[lte]` (and `fps`, `width`,
/// `height`, `size`), `created_at`/`updated_at` (at or after, RFC 3339), and
/// user metadata as `user_metadata[KEY]=VALUE` (Python) or one JSON object
/// `user_metadata={"KEY": VALUE}` (JS): a number or boolean matches by its
/// text, a list of strings when it holds the value. `total_results` counts
/// what matches. A bad value is a 400 naming its parameter; unknown parameters
/// are ignored.
#[utoipa::path(
    get,
    operation_id = "list_indexed_assets",
    path = "/indexes/{index_id}/indexed-assets",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path), PageQuery, SortQuery, IndexedListParams),
    responses(
        (status = 200, description = "One page.", body = ListView<IndexedAssetView>),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such index in this account.", body = ErrorBody),
    ),
)]
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

/// Retrieve an indexed asset.
#[utoipa::path(
    get,
    operation_id = "retrieve_indexed_asset",
    path = "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path), ("indexed_asset_id" = String, Path)),
    responses(
        (status = 200, description = "The indexed asset.", body = IndexedAssetView),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such indexed asset in this account.", body = ErrorBody),
    ),
)]
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

/// Merge into an indexed asset's user metadata.
///
/// As for an asset: each key is set, a null value removes it.
#[utoipa::path(
    patch,
    operation_id = "update_indexed_asset",
    path = "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path), ("indexed_asset_id" = String, Path)),
    request_body = MetadataBody,
    responses(
        (status = 204, description = "Done; no body."),
        (status = 400, description = "The metadata breaks a rule; the message says which.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such indexed asset in this account.", body = ErrorBody),
    ),
)]
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

/// Delete an indexed asset (its reference to the asset).
#[utoipa::path(
    delete,
    operation_id = "delete_indexed_asset",
    path = "/indexes/{index_id}/indexed-assets/{indexed_asset_id}",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("index_id" = String, Path), ("indexed_asset_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such indexed asset in this account.", body = ErrorBody),
    ),
)]
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

/// An indexed asset that references an asset, and its index.
#[derive(Serialize, ToSchema)]
struct IndexedAssetSummary {
    #[serde(rename = "_id")]
    id: String,
    index: IndexName,
}

#[derive(Serialize, ToSchema)]
struct IndexName {
    #[serde(rename = "_id")]
    id: String,
    name: String,
}

/// `sort_option` alone: these are listed by when they were made.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ByAssetQuery {
    #[param(inline, value_type = Option<SortOption>)]
    sort_option: Option<String>,
}

/// List the indexed assets that reference an asset (they block its delete
/// unless `force=true`).
#[utoipa::path(
    get,
    operation_id = "list_asset_references",
    path = "/assets/{asset_id}/indexed-assets",
    tag = "indexes",
    security(("apiKey" = [])),
    params(("asset_id" = String, Path), PageQuery, ByAssetQuery),
    responses(
        (status = 200, description = "One page of summaries.", body = ListView<IndexedAssetSummary>),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such asset in this account.", body = ErrorBody),
    ),
)]
async fn list_by_asset(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_asset): Path<String>,
    paging: Paging,
    Query(query): Query<ByAssetQuery>,
) -> Result<Json<ListView<IndexedAssetSummary>>, ApiError> {
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
            index: IndexName {
                id: r.index_id,
                name: r.index_name,
            },
        })
        .collect();
    Ok(Json(paging.page_of(data, total)))
}
