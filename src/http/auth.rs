//! `x-api-key` → the account it belongs to, or 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::domain::AccountId;

/// The name of the API-key security scheme in the OpenAPI document; each keyed
/// operation says `security(("apiKey" = []))`.
pub const SCHEME: &str = "apiKey";

/// The header that carries the key.
pub const HEADER: &str = "x-api-key";

/// The account of a request that presented a valid key.
#[derive(Debug, Clone, Copy)]
pub struct Account(pub AccountId);

impl FromRequestParts<AppState> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::ApiKeyInvalid)?;
        let account = state
            .keys
            .account(&state.pool, key)
            .await?
            .ok_or(ApiError::ApiKeyInvalid)?;
        tracing::Span::current().record("account", tracing::field::display(account));
        Ok(Self(account))
    }
}
