//! axum's extractors with our rejection: every malformed path, query or body
//! becomes the JSON error of shared/API.md, never axum's plain-text answer
//! (e.g. `GET /v1.3/assets/%FF`, whose segment is not UTF-8).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// Path parameters; a segment that does not decode is a 400 that names the path.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A query string with single values (`axum::extract::Query`).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// A query string whose lists come as repeated keys (`asset_ids=a&asset_ids=b`).
#[derive(FromRequestParts)]
#[from_request(via(axum_extra::extract::Query), rejection(ApiError))]
pub struct RepeatedQuery<T>(pub T);

/// A JSON body in, or a JSON answer out.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON number that is a whole number from 0 to `i64::MAX` (what the
/// database stores), as JSON Schema's `integer` counts them: `365.0` is one,
/// as `365` is.
pub fn whole_number(value: &serde_json::Value) -> Option<u64> {
    const MAX: u64 = i64::MAX as u64;
    value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n < MAX as f64)
                .map(|n| n as u64)
        })
        .filter(|n| *n <= MAX)
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::invalid("path", e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::invalid("query", e.body_text())
    }
}

impl From<axum_extra::extract::QueryRejection> for ApiError {
    fn from(e: axum_extra::extract::QueryRejection) -> Self {
        Self::invalid("query", e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::invalid(
            "body",
            format!(
                "it must be a JSON object of the documented shape ({})",
                e.body_text()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::whole_number;
    use serde_json::json;

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        assert_eq!(whole_number(&json!(365)), Some(365));
        assert_eq!(whole_number(&json!(365.0)), Some(365));
        assert_eq!(whole_number(&json!(365.5)), None);
        assert_eq!(whole_number(&json!(-1)), None);
        assert_eq!(whole_number(&json!(u64::MAX)), None);
        assert_eq!(whole_number(&json!("1")), None);
    }
}
