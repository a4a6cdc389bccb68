//! The one error type of the HTTP layer, rendered as the JSON body of shared/API.md.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The {name} parameter is invalid: {reason}.")]
    ParameterInvalid { name: &'static str, reason: String },
    #[error("The {0} parameter is required.")]
    ParameterNotProvided(&'static str),
    #[error("The {name} parameter has an unknown value '{value}': it must be one of {expected}.")]
    ParameterUnknown {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{0}")]
    FileTypeUnsupported(String),
    #[error("{0}")]
    UrlNotAllowed(String),
    #[error("The x-api-key header is missing, or the key is unknown or revoked.")]
    ApiKeyInvalid,
    #[error("The {resource} {id} does not exist.")]
    NotFound { resource: &'static str, id: String },
    #[error("The file is larger than the limit of {limit} bytes.")]
    FileTooLarge { limit: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("The asset is referenced by {references} indexed asset(s); delete them first, or delete with force=true.")]
    AssetInUse { references: u64 },
    /// A multipart upload that is completed, expired or failed takes no more chunks.
    #[error("{0}")]
    UploadNotActive(String),
    /// A chunk sent again after its report, with other bytes.
    #[error("{0}")]
    ChunkReported(String),
    #[error("Too many uploads for this account: try again in {retry_after_secs} s.")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("There is no endpoint at {0}.")]
    RouteNotFound(String),
    #[error("This endpoint does not accept the {0} method.")]
    MethodNotAllowed(String),
    /// A bug or an outage: the detail goes to the log, never to the client.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::ParameterInvalid {
            name,
            reason: reason.into(),
        }
    }

    /// 404 for a resource id the client sent (cut short if long: it is echoed).
    pub fn not_found(resource: &'static str, raw_id: &str) -> Self {
        Self::NotFound {
            resource,
            id: raw_id.chars().take(64).collect(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::ParameterInvalid { .. } => (StatusCode::BAD_REQUEST, ErrorCode::ParameterInvalid),
            Self::ParameterNotProvided(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ParameterNotProvided)
            }
            Self::ParameterUnknown { .. } => (StatusCode::BAD_REQUEST, ErrorCode::ParameterUnknown),
            Self::FileTypeUnsupported(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::FileTypeUnsupported)
            }
            Self::UrlNotAllowed(_) => (StatusCode::BAD_REQUEST, ErrorCode::UrlNotAllowed),
            Self::ApiKeyInvalid => (StatusCode::UNAUTHORIZED, ErrorCode::ApiKeyInvalid),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::AccessDenied),
            Self::AssetInUse { .. } => (StatusCode::CONFLICT, ErrorCode::AssetInUse),
            Self::UploadNotActive(_) => (StatusCode::CONFLICT, ErrorCode::UploadNotActive),
            Self::ChunkReported(_) => (StatusCode::CONFLICT, ErrorCode::ChunkAlreadyReported),
            Self::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
            }
            Self::NotFound { .. } | Self::RouteNotFound(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::ResourceNotExist)
            }
            Self::FileTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::FileTooLarge),
            Self::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        crate::stats::error(crate::stats::ErrorSource::Database);
        Self::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        crate::stats::error(crate::stats::ErrorSource::Storage);
        Self::Internal(anyhow::Error::new(e).context("file system"))
    }
}

/// Every `code` an error body may carry (`not_ready` comes from `/readyz`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ParameterInvalid,
    ParameterNotProvided,
    ParameterUnknown,
    FileTypeUnsupported,
    UrlNotAllowed,
    ApiKeyInvalid,
    AccessDenied,
    ResourceNotExist,
    AssetInUse,
    UploadNotActive,
    ChunkAlreadyReported,
    FileTooLarge,
    MethodNotAllowed,
    TooManyRequests,
    NotReady,
    InternalError,
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Marks a response as an internal error so that [`add_request_id_to_internal_errors`]
/// can put the request id into its message.
#[derive(Clone, Copy)]
struct InternalErrorMarker;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
        let mut response = (
            status,
            Json(ErrorBody {
                code,
                message: self.to_string(),
            }),
        )
            .into_response();
        if matches!(self, Self::Internal(_)) {
            response.extensions_mut().insert(InternalErrorMarker);
        }
        response
    }
}

/// Gives the client of a 500 something to quote: the request id, and nothing internal.
pub async fn add_request_id_to_internal_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string();
    let response = next.run(request).await;
    if response.extensions().get::<InternalErrorMarker>().is_none() {
        return response;
    }
    let (parts, _) = response.into_parts();
    let body = Json(ErrorBody {
        code: ErrorCode::InternalError,
        message: format!(
            "An internal error occurred. Quote request id {request_id} when you report it."
        ),
    });
    (parts.status, parts.headers, body).into_response()
}
