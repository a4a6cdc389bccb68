//! `/v1.3/assets/multipart-uploads`: the multipart upload flow the SDKs'
//! `upload_file` helpers drive (shapes in shared/API.md), and the signed
//! chunk URLs they PUT to (`/uploads/...`, no API key, like /media).

use crate::stats::{UploadInFlight, UploadMethod};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Account;
use super::error::ApiError;
use super::extractors::{Json, Path, Query};
use super::paging::Paging;
use super::public_base::PublicBase;
use super::AppState;
use crate::assets::multipart::{self, NewSession, Reported, SessionError};
use crate::db::{self, multipart::UploadRow};
use crate::domain::{AssetKind, Filename, Timestamp, UserMetadata};
use crate::signing::now_secs;
use crate::storage::multipart::ChunkError;

/// URLs handed out at once (the create answer, a presigned-urls call).
const URLS_AT_ONCE: u64 = 50;

/// Bytes of a refused chunk read before the answer.
const DRAIN_BEFORE_REFUSING: usize = 64 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/multipart-uploads", get(list).post(create))
        .route(
            "/assets/multipart-uploads/{upload_id}",
            get(status).post(report),
        )
        .route(
            "/assets/multipart-uploads/{upload_id}/presigned-urls",
            post(presigned_urls),
        )
}

/// The chunk URLs, outside /v1.3: they carry their own permission.
pub fn chunk_router() -> Router<AppState> {
    // A chunk's size is checked while it streams in, against its session.
    Router::new().route(
        "/uploads/{upload_id}/{index}/{expires}/{signature}",
        put(put_chunk).layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found("multipart upload", raw)
}

/// The account's session, or the 404 that names it.
async fn session_of(
    state: &AppState,
    account: crate::domain::AccountId,
    upload_id: &str,
) -> Result<UploadRow, ApiError> {
    db::multipart::find(&state.pool, account, upload_id)
        .await?
        .ok_or_else(|| not_found(upload_id))
}

fn session_error(e: SessionError, upload: &str) -> ApiError {
    match e {
        SessionError::NotFound => not_found(upload),
        SessionError::NotActive(_) => {
            ApiError::UploadNotActive(format!("The multipart upload {upload} is not active: {e}."))
        }
        SessionError::ChunkReported(_) => ApiError::ChunkReported(e.to_string()),
        SessionError::Invalid { name, reason } => ApiError::invalid(name, reason),
        SessionError::Chunk(ChunkError::Io(e)) => e.into(),
        SessionError::Chunk(refused) => ApiError::invalid("chunk", refused.to_string()),
        SessionError::Internal(e) => ApiError::Internal(e),
    }
}

#[derive(Deserialize)]
struct CreateBody {
    filename: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    total_size: Option<Value>,
    enable_hls: Option<bool>,
    enable_thumbnail: Option<bool>,
    user_metadata: Option<Value>,
}

#[derive(Serialize)]
struct ChunkUrl {
    chunk_index: u64,
    url: String,
    expires_at: Timestamp,
}

fn chunk_urls(
    state: &AppState,
    base: &url::Url,
    session: &UploadRow,
    start: u64,
    count: u64,
) -> Vec<ChunkUrl> {
    let expires = session.expires_at / 1000;
    (start..start + count)
        .map(|index| ChunkUrl {
            chunk_index: index,
            url: state.signer.chunk_url(base, &session.id, index, expires),
            expires_at: Timestamp::from_millis(session.expires_at),
        })
        .collect()
}

async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let filename = body
        .filename
        .filter(|f| !f.is_empty())
        .ok_or(ApiError::ParameterNotProvided("filename"))?;
    let filename = Filename::parse(&filename).map_err(|e| ApiError::invalid("filename", e.0))?;
    let raw_kind = body.kind.ok_or(ApiError::ParameterNotProvided("type"))?;
    let kind = match raw_kind.as_str() {
        "video" => AssetKind::Video,
        "audio" => AssetKind::Audio,
        "image" => AssetKind::Image,
        _ => {
            return Err(ApiError::ParameterUnknown {
                name: "type",
                value: raw_kind,
                expected: "video, audio, image",
            })
        }
    };
    let total_size = body
        .total_size
        .ok_or(ApiError::ParameterNotProvided("total_size"))?
        .as_u64()
        .filter(|size| *size > 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "total_size",
                "it must be a whole number of bytes, at least 1",
            )
        })?;
    if total_size > state.config.max_upload_bytes {
        return Err(ApiError::FileTooLarge {
            limit: state.config.max_upload_bytes,
        });
    }
    let user_metadata = body
        .user_metadata
        .map(|value| {
            UserMetadata::from_value(value).map_err(|e| ApiError::invalid("user_metadata", e.0))
        })
        .transpose()?;
    let session = multipart::create_session(
        &state,
        NewSession {
            account,
            filename,
            kind,
            total_size,
            enable_hls: body.enable_hls.unwrap_or(false),
            enable_thumbnail: body.enable_thumbnail.unwrap_or(false),
            user_metadata,
        },
    )
    .await?;
    let first = (session.total_chunks as u64).min(URLS_AT_ONCE);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "upload_id": session.id,
            "asset_id": session.asset_id,
            "chunk_size": session.chunk_size,
            "total_chunks": session.total_chunks,
            "upload_urls": chunk_urls(&state, &base, &session, 1, first),
            "upload_headers": {"Content-Type": "application/octet-stream"},
            "expires_at": Timestamp::from_millis(session.expires_at),
        })),
    ))
}

#[derive(Deserialize)]
struct UrlsBody {
    start: Option<u64>,
    count: Option<u64>,
}

async fn presigned_urls(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Path(upload_id): Path<String>,
    Json(body): Json<UrlsBody>,
) -> Result<Json<Value>, ApiError> {
    let session = session_of(&state, account, &upload_id).await?;
    let total = session.total_chunks as u64;
    let start = body.start.ok_or(ApiError::ParameterNotProvided("start"))?;
    if start == 0 || start > total {
        return Err(ApiError::invalid(
            "start",
            format!("it must be between 1 and {total}"),
        ));
    }
    let count = body.count.unwrap_or(URLS_AT_ONCE);
    if count == 0 || count > URLS_AT_ONCE {
        return Err(ApiError::invalid(
            "count",
            format!("it must be between 1 and {URLS_AT_ONCE}"),
        ));
    }
    let count = count.min(total - start + 1);
    Ok(Json(json!({
        "upload_id": session.id,
        "start_index": start,
        "count": count,
        "upload_urls": chunk_urls(&state, &base, &session, start, count),
        "generated_at": Timestamp::now(),
        "expires_at": Timestamp::from_millis(session.expires_at),
    })))
}

async fn put_chunk(
    State(state): State<AppState>,
    Path((upload_id, index, expires, signature)): Path<(String, String, String, String)>,
    body: Body,
) -> Result<Response, ApiError> {
    let mut body = body.into_data_stream();
    let stored =
        store_signed_chunk(&state, &upload_id, &index, &expires, &signature, &mut body).await;
    if stored.is_err() {
        // Read on (a bounded amount) before refusing, so that a client still
        // sending its chunk sees the answer rather than a reset connection.
        let mut read = 0usize;
        while let Some(Ok(bytes)) = futures_util::StreamExt::next(&mut body).await {
            read += bytes.len();
            if read > DRAIN_BEFORE_REFUSING {
                break;
            }
        }
    }
    let etag = stored?;
    let quoted = HeaderValue::from_str(&format!("\"{etag}\"")).map_err(anyhow::Error::from)?;
    Ok((StatusCode::OK, [(header::ETAG, quoted)], Body::empty()).into_response())
}

async fn store_signed_chunk(
    state: &AppState,
    upload_id: &str,
    index: &str,
    expires: &str,
    signature: &str,
    body: &mut axum::body::BodyDataStream,
) -> Result<String, ApiError> {
    let denied = || ApiError::Forbidden("This chunk URL is not valid.".into());
    let index: u64 = index.parse().map_err(|_| denied())?;
    let expires: i64 = expires.parse().map_err(|_| denied())?;
    state
        .signer
        .verify_chunk(upload_id, index, expires, signature, now_secs())
        .map_err(|denial| match denial {
            crate::signing::Denied::Expired => ApiError::Forbidden(
                "This chunk URL has expired; ask for fresh ones (presigned-urls).".into(),
            ),
            crate::signing::Denied::BadSignature => denied(),
        })?;
    let _in_flight = UploadInFlight::start(UploadMethod::Multipart);
    let counted = futures_util::StreamExt::inspect(body, |frame| {
        if let Ok(bytes) = frame {
            UploadMethod::Multipart.received(bytes.len());
        }
    });
    multipart::store_chunk(state, upload_id, index, counted)
        .await
        .map_err(|e| session_error(e, upload_id))
}

#[derive(Deserialize)]
struct ReportBody {
    completed_chunks: Option<Vec<CompletedChunk>>,
}

#[derive(Deserialize)]
struct CompletedChunk {
    chunk_index: Option<u64>,
    proof: Option<String>,
}

async fn report(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Path(upload_id): Path<String>,
    Json(body): Json<ReportBody>,
) -> Result<Json<Value>, ApiError> {
    let chunks = body
        .completed_chunks
        .ok_or(ApiError::ParameterNotProvided("completed_chunks"))?;
    let reports = chunks
        .into_iter()
        .map(|chunk| match (chunk.chunk_index, chunk.proof) {
            (Some(index), Some(proof)) => Ok((index, proof)),
            _ => Err(ApiError::invalid(
                "completed_chunks",
                "each needs chunk_index and proof",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Reported {
        asset_id,
        processed,
        duplicates,
        total_completed,
        complete,
    } = multipart::report_chunks(&state, account, &upload_id, &reports)
        .await
        .map_err(|e| session_error(e, &upload_id))?;
    let mut answer = json!({
        "asset_id": asset_id,
        "processed_chunks": processed,
        "duplicate_chunks": duplicates,
        "total_completed": total_completed,
    });
    if complete {
        // The helpers stop at the first answer with a URL: the asset's.
        let mut base = base;
        base.set_path(&format!("/v1.3/assets/{asset_id}"));
        answer["url"] = json!(base.to_string());
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
    page_limit: Option<String>,
}

async fn status(
    State(state): State<AppState>,
    Account(account): Account,
    Path(upload_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(query.page.as_deref(), query.page_limit.as_deref())?;
    let session = session_of(&state, account, &upload_id).await?;
    let stored = db::multipart::chunks(&state.pool, &upload_id).await?;
    let total = session.total_chunks as u64;
    let completed = stored.iter().filter(|c| c.status == "completed").count() as u64;
    let uploaded_size: i64 = stored.iter().map(|c| c.size).sum();
    let by_index: std::collections::HashMap<i64, &db::multipart::ChunkRow> =
        stored.iter().map(|c| (c.chunk_index, c)).collect();
    // Every chunk is listed, pending ones too: the helper counts them all.
    let first = paging.offset() + 1;
    let last = (first + u64::from(paging.limit.get()) - 1).min(total);
    let listed: Vec<Value> = (first..=last)
        .map(|index| match by_index.get(&(index as i64)) {
            Some(chunk) => json!({
                "index": index,
                "status": chunk.status,
                "uploaded_at": Timestamp::from_millis(chunk.uploaded_at),
                "updated_at": Timestamp::from_millis(chunk.updated_at),
            }),
            None => json!({"index": index, "status": "pending"}),
        })
        .collect();
    let status = if session.status == "active" && session.expires_at < db::now_millis() {
        "expired".to_string()
    } else {
        session.status.clone()
    };
    let page = paging.page_of(listed, total);
    let mut answer = json!({
        "upload_id": session.id,
        "status": status,
        "chunks_completed": completed,
        "chunks_failed": 0,
        "chunks_pending": total - completed,
        "total_size": session.total_size,
        "uploaded_size": uploaded_size,
        "created_at": Timestamp::from_millis(session.created_at),
        "updated_at": Timestamp::from_millis(session.updated_at),
    });
    let page = serde_json::to_value(page).map_err(anyhow::Error::from)?;
    answer["uploaded_chunks"] = page["data"].clone();
    answer["page_info"] = page["page_info"].clone();
    Ok(Json(answer))
}

async fn list(
    State(state): State<AppState>,
    Account(account): Account,
    Query(query): Query<PageQuery>,
) -> Result<Json<super::paging::ListView<Value>>, ApiError> {
    let paging = Paging::parse(query.page.as_deref(), query.page_limit.as_deref())?;
    let (rows, total) =
        db::multipart::list_active(&state.pool, account, paging.offset(), paging.limit.get())
            .await?;
    let data = rows
        .into_iter()
        .map(|session| {
            json!({
                "upload_id": session.id,
                "status": session.status,
                "total_size": session.total_size,
                "chunk_size": session.chunk_size,
                "total_chunks": session.total_chunks,
                "created_at": Timestamp::from_millis(session.created_at),
                "expires_at": Timestamp::from_millis(session.expires_at),
            })
        })
        .collect();
    Ok(Json(paging.page_of(data, total)))
}
