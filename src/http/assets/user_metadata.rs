//! `/v1.3/assets/{asset_id}/user-metadata`: PUT replaces, PATCH merges, DELETE
//! clears (shapes in shared/API.md). Each answers 204 with no body, as the
//! SDKs expect nothing back.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{asset_id, not_found};
use crate::assets::{change_user_metadata, MetadataChange, MetadataError, MetadataOwner};
use crate::domain::UserMetadata;
use crate::http::auth::Account;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extractors::{Json, Path};
use crate::http::AppState;

/// A change of user metadata.
#[derive(Deserialize, ToSchema)]
pub(crate) struct MetadataBody {
    #[schema(value_type = UserMetadata)]
    user_metadata: Option<Value>,
}

impl MetadataBody {
    pub(crate) fn metadata(self) -> Result<UserMetadata, ApiError> {
        let value = self
            .user_metadata
            .ok_or(ApiError::ParameterNotProvided("user_metadata"))?;
        UserMetadata::from_value(value).map_err(|e| ApiError::invalid("user_metadata", e.0))
    }
}

/// The answers of the three changes below, as the OpenAPI document says them.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum MetadataChanged {
    /// Done; no body.
    #[response(status = 204)]
    Done,
    /// The metadata breaks a rule; the message says which.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// No valid API key.
    #[response(status = 401)]
    NoKey(ErrorBody),
    /// No such asset in this account.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// Replace an asset's user metadata.
///
/// The stored metadata becomes `user_metadata`, less its keys whose value is
/// `""`, `[]` or null (ignored). `{}` clears it, as DELETE does.
#[utoipa::path(
    put,
    operation_id = "replace_asset_user_metadata",
    path = "/assets/{asset_id}/user-metadata",
    tag = "assets",
    request_body = MetadataBody,
    security(("apiKey" = [])),
    params(("asset_id" = String, Path)),
    responses(MetadataChanged),
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_id): Path<String>,
    Json(body): Json<MetadataBody>,
) -> Result<StatusCode, ApiError> {
    let change = MetadataChange::Replace(body.metadata()?);
    apply(&state, account, &raw_id, change).await
}

/// Merge into an asset's user metadata.
///
/// Each key of `user_metadata` is set; a null value removes the key; `""` and
/// `[]` change nothing; other keys stay. Refused whole (400) when the result
/// would pass a limit.
#[utoipa::path(
    patch,
    operation_id = "update_asset_user_metadata",
    path = "/assets/{asset_id}/user-metadata",
    tag = "assets",
    request_body = MetadataBody,
    security(("apiKey" = [])),
    params(("asset_id" = String, Path)),
    responses(MetadataChanged),
)]
pub(super) async fn merge(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_id): Path<String>,
    Json(body): Json<MetadataBody>,
) -> Result<StatusCode, ApiError> {
    let change = MetadataChange::Merge(body.metadata()?);
    apply(&state, account, &raw_id, change).await
}

/// Remove all of an asset's user metadata.
#[utoipa::path(
    delete,
    operation_id = "delete_asset_user_metadata",
    path = "/assets/{asset_id}/user-metadata",
    tag = "assets",
    security(("apiKey" = [])),
    params(("asset_id" = String, Path)),
    responses(MetadataChanged),
)]
pub(super) async fn clear(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    apply(&state, account, &raw_id, MetadataChange::Clear).await
}

async fn apply(
    state: &AppState,
    account: crate::domain::AccountId,
    raw_id: &str,
    change: MetadataChange,
) -> Result<StatusCode, ApiError> {
    let owner = MetadataOwner::Asset(asset_id(raw_id)?);
    change_user_metadata(&state.pool, account, owner, change)
        .await
        .map_err(|e| metadata_error(e, || not_found(raw_id)))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The API's answer to a failed metadata change; `not_found` names the owner.
pub(crate) fn metadata_error(
    error: MetadataError,
    not_found: impl FnOnce() -> ApiError,
) -> ApiError {
    match error {
        MetadataError::NotFound => not_found(),
        MetadataError::Invalid(e) => ApiError::invalid("user_metadata", e.0),
        MetadataError::Database(e) => e.into(),
    }
}
