//! `/media/...`: thumbnails and HLS under signed, expiring URLs (no API key:
//! players cannot send one). Range requests, ETag and Last-Modified with
//! conditional GET; long caching, since a file never changes once published.
//! Open to pages of any origin (CORS), so that browser players (hls.js) work.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeFile;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extractors::Path;
use super::AppState;
use crate::db;
use crate::domain::{AssetId, StepStatus};
use crate::signing::{now_secs, Denied};
use crate::storage::{AssetFile, PublishedFile};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(serve))
}

/// Any origin: a signed URL is a capability, whoever holds it may play it, and
/// no cookie or key is involved. Preflights are answered by the layer before
/// the handler, so without a signature check (browsers send no credentials on
/// them); a GET still needs a valid signature, and its 403 or 404 carries these
/// headers too, so that a page can read the status.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([
            header::RANGE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
        ])
        .expose_headers([
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::ETAG,
        ])
        .max_age(Duration::from_secs(3600))
}

/// How long a presigned object URL of a redirect stays valid: a player follows
/// a redirect at once; a short life keeps a leaked URL from outliving its use.
const PRESIGNED_TTL: Duration = Duration::from_secs(600);

/// 307, so that the client repeats the same GET (with its Range) at the
/// bucket. Not cached: the presigned URL expires, the media URL does not yet.
fn redirect_to_bucket(url: &url::Url) -> anyhow::Result<Response> {
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [
            (header::LOCATION, HeaderValue::from_str(url.as_str())?),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Body::empty(),
    )
        .into_response())
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        ApiError::Forbidden(denied.to_string())
    }
}

/// A thumbnail or HLS file, under the signed URL the asset object hands out.
///
/// No API key: the URL carries the permission. `file` is `thumb.jpg` or
/// `hls/<name>` (`master.m3u8`, `index.m3u8`, segments); the segment URIs in
/// the playlists are relative, so they work under the same signature.
/// Supports Range, ETag/If-None-Match and Last-Modified/If-Modified-Since.
/// Open to pages of any origin (CORS, `Access-Control-Allow-Origin: *`): a
/// preflight (OPTIONS) is answered without a signature check and allows
/// Range, If-None-Match and If-Modified-Since; Content-Length, Content-Range,
/// Accept-Ranges and ETag are exposed. A 403 or 404 carries the CORS headers
/// too.
#[utoipa::path(
    get,
    operation_id = "get_media_file",
    path = "/media/{asset_id}/{expires}/{signature}/{*file}",
    tag = "media",
    params(
        ("asset_id" = String, Path),
        ("expires" = String, Path, description = "Unix seconds."),
        ("signature" = String, Path),
        ("file" = String, Path),
    ),
    responses(
        (status = 200, description = "The file.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 206, description = "A byte range of the file.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified."),
        (status = 307, description = "Only with `--media-redirect` on S3 storage, for thumbnails and segments (never playlists): the file is at `Location`, a presigned URL of its object valid for 10 minutes. `Cache-Control: no-store`.",
            headers(("Location" = String, description = "The presigned URL."))),
        (status = 403, description = "The signature is wrong or expired.", body = ErrorBody),
        (status = 404, description = "No such file, or not ready.", body = ErrorBody),
        (status = 416, description = "The range is not within the file."),
    ),
)]
async fn serve(
    State(state): State<AppState>,
    Path((raw_id, expires, signature, file)): Path<(String, String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("media file", &file);
    let id = AssetId::parse(&raw_id).map_err(|_| not_found())?;
    let expires: i64 = expires
        .parse()
        .map_err(|_| ApiError::from(Denied::BadSignature))?;
    state.signer.verify(id, expires, &signature, now_secs())?;

    let asset_file = AssetFile::parse_served(&file).ok_or_else(not_found)?;
    // A deleted asset, or a step not (or no longer) ready, has no files to serve.
    let status = db::assets::step_status(&state.pool, id, asset_file.step()).await?;
    if status != Some(StepStatus::Ready) {
        return Err(not_found());
    }
    if state.config.media_redirect && !asset_file.is_playlist() {
        if let Some(url) = state
            .storage
            .presigned_url(id, &asset_file, PRESIGNED_TTL)
            .await?
        {
            return Ok(redirect_to_bucket(&url)?);
        }
    }
    let published = state
        .storage
        .published(id, &asset_file)
        .await
        .ok_or_else(not_found)?;
    let etag = published.etag();
    let etag_value = HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?;

    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|v| {
        v.split(',')
            .any(|tag| tag.trim() == etag || tag.trim() == "*")
    }) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value)],
            Body::empty(),
        )
            .into_response());
    }

    let mut response = ServeFile::new_with_mime(
        &published.path,
        &published.content_type.parse().expect("valid MIME"),
    )
    .oneshot(request)
    .await
    .map_err(anyhow::Error::from)?
    .map(Body::new);
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag_value);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PublishedFile::CACHE_CONTROL),
    );
    Ok(response)
}
