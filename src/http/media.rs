//! `/media/...`: thumbnails and HLS under signed, expiring URLs (no API key:
//! players cannot send one). Range requests, ETag and Last-Modified with
//! conditional GET; long caching, since a file never changes once published.
//! Open to pages of any origin (CORS), so that browser players (hls.js) work.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeFile;

use super::error::ApiError;
use super::AppState;
use crate::db;
use crate::domain::{AssetId, Step, StepStatus};
use crate::signing::{now_secs, Denied};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/media/{asset_id}/{expires}/{signature}/{*file}",
        get(serve),
    )
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

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        ApiError::Forbidden(denied.to_string())
    }
}

/// What a media path may name: the thumbnail, or one plain file of the HLS folder.
fn step_of(file: &str) -> Option<Step> {
    if file == "thumb.jpg" {
        return Some(Step::Thumbnail);
    }
    let name = file.strip_prefix("hls/")?;
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    plain.then_some(Step::Hls)
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("aac") => "audio/aac",
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

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

    let step = step_of(&file).ok_or_else(not_found)?;
    // A deleted asset, or a step not (or no longer) ready, has no files to serve.
    let status = db::assets::step_status(&state.pool, id, step).await?;
    if status != Some(StepStatus::Ready) {
        return Err(not_found());
    }
    let path = state.storage.asset_dir(id).join(&file);
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return Err(not_found());
    };
    if !meta.is_file() {
        return Err(not_found());
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", meta.len(), modified);
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

    let mut response =
        ServeFile::new_with_mime(&path, &content_type(&file).parse().expect("valid MIME"))
            .oneshot(request)
            .await
            .map_err(anyhow::Error::from)?
            .map(Body::new);
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag_value);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400, immutable"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_files_can_be_named() {
        assert_eq!(step_of("thumb.jpg"), Some(Step::Thumbnail));
        assert_eq!(step_of("hls/master.m3u8"), Some(Step::Hls));
        assert_eq!(step_of("hls/seg_00001.ts"), Some(Step::Hls));
        for bad in [
            "original",
            "hls/../original",
            "hls/",
            "hls/.hidden",
            "hls/a/b.ts",
            "../secret",
            "thumb.jpg.part-1",
        ] {
            assert_eq!(step_of(bad), None, "{bad}");
        }
    }
}
