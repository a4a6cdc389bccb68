//! `/console/`: the web console, the static files of the `console/` folder.
//! A release build embeds them (rust-embed); a debug build reads them from
//! the folder on every request, so the console can be worked on without
//! rebuilding. Everything the page loads comes from this origin, and its
//! Content-Security-Policy says so to the browser.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extractors::Path;
use super::AppState;

#[derive(rust_embed::Embed)]
#[folder = "console/"]
struct Embedded;

/// Only this origin: scripts, styles, media (hls.js feeds the video element
/// from blob: URLs, and runs its worker from one) and API calls.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob:; worker-src 'self' blob:; style-src 'self'; script-src 'self'; \
     connect-src 'self'; frame-ancestors 'none'";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(to_console))
        .routes(routes!(index))
        .routes(routes!(file))
}

/// The console's address without its slash: to the console.
#[utoipa::path(
    get,
    path = "/console",
    operation_id = "console_redirect",
    tag = "console",
    responses((status = 308, description = "To `/console/`.",
        headers(("Location" = String, description = "`/console/`")))),
)]
async fn to_console() -> Redirect {
    Redirect::permanent("/console/")
}

/// The web console's page (sign in with an API key).
#[utoipa::path(
    get,
    path = "/console/",
    operation_id = "console",
    tag = "console",
    responses((status = 200, description = "The page.", body = String, content_type = "text/html")),
)]
async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    serve("index.html", &headers)
}

/// A file of the web console (its script, styles, the vendored hls.js).
#[utoipa::path(
    get,
    path = "/console/{*path}",
    operation_id = "console_file",
    tag = "console",
    params(("path" = String, Path)),
    responses(
        (status = 200, description = "The file.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`If-None-Match`)."),
        (status = 404, description = "No such file.", body = ErrorBody),
    ),
)]
async fn file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&path, &headers)
}

/// The file, or 304 when the client holds this version (`If-None-Match`).
fn serve(path: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let file = Embedded::get(path).ok_or_else(|| ApiError::not_found("console file", path))?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let held = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|wanted| wanted.split(',').any(|tag| tag.trim() == etag));
    let mut response = if held {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        // Text is UTF-8 here; browsers would guess otherwise.
        let textual = mime.type_() == mime_guess::mime::TEXT
            || mime.subtype() == mime_guess::mime::JAVASCRIPT;
        let content_type = if textual {
            format!("{}; charset=utf-8", mime.essence_str())
        } else {
            mime.essence_str().to_string()
        };
        (
            [(header::CONTENT_TYPE, content_type)],
            Body::from(file.data),
        )
            .into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?,
    );
    // Checked on every load: a new server version brings new files.
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response_headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
