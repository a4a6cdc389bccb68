//! `/v1.3/assets`: create (direct upload or URL) in `create`, the list in
//! `list`, user metadata changes in `user_metadata`, the wire form in `view`;
//! retrieve and delete here.

mod create;
mod list;
mod user_metadata;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::auth::Account;
use super::error::{ApiError, ErrorBody};
use super::extractors::{Json, Path, Query};
use super::public_base::PublicBase;
use super::{AppState, CreateLimit};
use crate::assets::AssetView;
use crate::assets::{self, Deleted};
use crate::domain::AssetId;
pub(super) use user_metadata::{metadata_error, MetadataBody};

/// `limit` is None when uploads are not rate-limited.
pub fn router(limit: Option<CreateLimit>) -> OpenApiRouter<AppState> {
    // The upload limit is enforced while the file streams in, not on the whole body.
    let mut assets: UtoipaMethodRouter<AppState> =
        routes!(list::list, create::create).layer(DefaultBodyLimit::disable());
    if let Some(limit) = limit {
        assets = assets.layer(axum::middleware::from_fn_with_state(
            limit,
            super::rate_limit::limit_creates,
        ));
    }
    OpenApiRouter::new()
        .routes(assets)
        .routes(routes!(retrieve, remove))
        .routes(routes!(
            user_metadata::replace,
            user_metadata::merge,
            user_metadata::clear
        ))
}

/// A malformed id names no asset: 404, the same as an unknown one.
fn asset_id(raw: &str) -> Result<AssetId, ApiError> {
    AssetId::parse(raw).map_err(|_| not_found(raw))
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found("asset", raw)
}

/// Retrieve an asset.
#[utoipa::path(
    get,
    operation_id = "retrieve_asset",
    path = "/assets/{asset_id}",
    tag = "assets",
    security(("apiKey" = [])),
    params(("asset_id" = String, Path)),
    responses(
        (status = 200, description = "The asset.", body = AssetView),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such asset in this account.", body = ErrorBody),
    ),
)]
async fn retrieve(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Path(raw_id): Path<String>,
) -> Result<Json<AssetView>, ApiError> {
    let id = asset_id(&raw_id)?;
    let record = match (&state.inline_reads, &state.read_cache) {
        (Some(reads), _) => crate::db::assets::find_inline(reads, account, id)?,
        (None, Some(cache)) => cache.find(&state.pool, account, id).await?,
        (None, None) => crate::db::assets::find(&state.pool, account, id).await?,
    }
    .ok_or_else(|| not_found(&raw_id))?;
    Ok(Json(AssetView::new(record, &state.signer, &base)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// Delete the indexed assets that reference the asset too.
    #[param(inline, value_type = Option<TextBool>)]
    force: Option<String>,
}

/// Delete an asset and every file of it.
///
/// Refused with 409 `asset_in_use` while indexed assets reference it, unless
/// `force=true`, which deletes those indexed assets too.
#[utoipa::path(
    delete,
    operation_id = "delete_asset",
    path = "/assets/{asset_id}",
    tag = "assets",
    security(("apiKey" = [])),
    params(("asset_id" = String, Path), DeleteQuery),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`force` is not a boolean.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such asset in this account.", body = ErrorBody),
        (status = 409, description = "Indexed assets reference it (`asset_in_use`).", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_id): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let force = parse_bool("force", query.force.as_deref())?;
    let id = asset_id(&raw_id)?;
    match assets::delete(&state, account, id, force).await? {
        Deleted::Yes => Ok(StatusCode::NO_CONTENT),
        Deleted::NotFound => Err(not_found(&raw_id)),
        Deleted::InUse { references } => Err(ApiError::AssetInUse { references }),
    }
}

// A boolean form or query field, as `parse_bool` takes it.
/// `true` or `false`, in any case; empty is `false`.
#[derive(utoipa::ToSchema)]
#[schema(
    value_type = String,
    pattern = "^\\s*([tT][rR][uU][eE]|[fF][aA][lL][sS][eE])?\\s*$",
    example = "true"
)]
struct TextBool(#[allow(dead_code)] String);

/// `true` or `false` in any case; absent or empty is false.
fn parse_bool(name: &'static str, raw: Option<&str>) -> Result<bool, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::invalid(name, "it must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_strict() {
        assert!(parse_bool("x", Some("TRUE")).unwrap());
        assert!(!parse_bool("x", None).unwrap());
        assert!(parse_bool("x", Some("yes")).is_err());
    }
}
