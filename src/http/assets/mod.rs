//! `/v1.3/assets`: create (direct upload or URL) in `create`, the list in
//! `list`, user metadata changes in `user_metadata`, the wire form in `view`;
//! retrieve and delete here.

mod create;
mod list;
mod user_metadata;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::Router;
use serde::Deserialize;

use super::auth::Account;
use super::error::ApiError;
use super::extractors::{Json, Path, Query};
use super::public_base::PublicBase;
use super::rate_limit::CreateLimiter;
use super::AppState;
use crate::assets::AssetView;
use crate::assets::{self, Deleted};
use crate::domain::AssetId;
pub(super) use user_metadata::{metadata_error, MetadataBody};

/// `limiter` is None when uploads are not rate-limited.
pub fn router(state: &AppState, limiter: Option<CreateLimiter>) -> Router<AppState> {
    // The upload limit is enforced while the file streams in, not on the whole body.
    let mut assets = get(list::list)
        .post(create::create)
        .layer(DefaultBodyLimit::disable());
    if let Some(limiter) = limiter {
        assets = assets.layer(axum::middleware::from_fn_with_state(
            (state.clone(), Arc::new(limiter)),
            super::rate_limit::limit_creates,
        ));
    }
    Router::new()
        .route("/assets", assets)
        .route("/assets/{asset_id}", get(retrieve).delete(remove))
        .route(
            "/assets/{asset_id}/user-metadata",
            put(user_metadata::replace)
                .patch(user_metadata::merge)
                .delete(user_metadata::clear),
        )
}

/// A malformed id names no asset: 404, the same as an unknown one.
fn asset_id(raw: &str) -> Result<AssetId, ApiError> {
    AssetId::parse(raw).map_err(|_| not_found(raw))
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found("asset", raw)
}

async fn retrieve(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Path(raw_id): Path<String>,
) -> Result<Json<AssetView>, ApiError> {
    let id = asset_id(&raw_id)?;
    let record = match &state.inline_reads {
        Some(reads) => crate::db::assets::find_inline(reads, account, id)?,
        None => crate::db::assets::find(&state.pool, account, id).await?,
    }
    .ok_or_else(|| not_found(&raw_id))?;
    Ok(Json(AssetView::new(record, &state.signer, &base)))
}

#[derive(Deserialize)]
struct DeleteQuery {
    force: Option<String>,
}

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
