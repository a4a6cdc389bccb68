//! `/v1.3/assets/multipart-uploads`: the multipart upload flow the SDKs'
//! `upload_file` helpers drive (shapes in shared/API.md), and the signed
//! chunk URLs they PUT to (`/uploads/...`, no API key, like /media).

use crate::stats::{UploadInFlight, UploadMethod};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::auth::Account;
use super::error::{ApiError, ErrorBody};
use super::extractors::{whole_number, Json, Path};
use super::paging::{ListView, PageInfo, PageQuery, Paging};
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(status, report))
        .routes(routes!(presigned_urls))
}

/// The chunk URLs, outside /v1.3: they carry their own permission.
pub fn chunk_router() -> OpenApiRouter<AppState> {
    // A chunk's size is checked while it streams in, against its session.
    OpenApiRouter::new()
        .routes(routes!(put_chunk).layer(axum::extract::DefaultBodyLimit::disable()))
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

#[derive(Deserialize, ToSchema)]
struct CreateBody {
    #[schema(value_type = Filename)]
    filename: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = AssetKind)]
    kind: Option<String>,
    /// Bytes; at most `ASSETD_MAX_UPLOAD_BYTES`.
    #[schema(value_type = u64, minimum = 1)]
    total_size: Option<Value>,
    #[schema(default = false)]
    enable_hls: Option<bool>,
    #[schema(default = false)]
    enable_thumbnail: Option<bool>,
    #[schema(value_type = Option<UserMetadata>)]
    user_metadata: Option<Value>,
}

/// A new session.
#[derive(Serialize, ToSchema)]
struct Session {
    upload_id: String,
    /// The asset it makes (method multipart, processing until complete).
    asset_id: String,
    /// Bytes of every chunk but the last, which has the rest.
    chunk_size: i64,
    total_chunks: i64,
    /// The first 50 chunks' URLs.
    upload_urls: Vec<ChunkUrl>,
    /// The headers to send with each chunk.
    upload_headers: UploadHeaders,
    expires_at: Timestamp,
}

#[derive(Serialize, ToSchema)]
struct UploadHeaders {
    #[serde(rename = "Content-Type")]
    content_type: &'static str,
}

#[derive(Serialize, ToSchema)]
struct ChunkUrl {
    #[schema(minimum = 1)]
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

/// Begin a multipart upload session, which makes its asset (method
/// multipart, processing) at once.
///
/// What the SDKs' `upload_file` / `uploadFile` helpers call first. Chunks are
/// `chunk_size` bytes (`ASSETD_MULTIPART_CHUNK_BYTES`; the last one the rest);
/// each goes to its own signed URL. The session expires after
/// `ASSETD_MULTIPART_SESSION_SECS` (24 h): then its asset fails and its chunks
/// are removed.
#[utoipa::path(
    post,
    operation_id = "create_multipart_upload",
    path = "/assets/multipart-uploads",
    tag = "multipart uploads",
    security(("apiKey" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The session.", body = Session, links(
            ("status" = (operation_id = "retrieve_multipart_upload", parameters(("upload_id" = "$response.body#/upload_id")))),
            ("report" = (operation_id = "report_chunks", parameters(("upload_id" = "$response.body#/upload_id")))),
            ("presigned_urls" = (operation_id = "create_presigned_urls", parameters(("upload_id" = "$response.body#/upload_id")))),
        )),
        (status = 400, description = "A field is missing or invalid.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 413, description = "`total_size` is over `ASSETD_MAX_UPLOAD_BYTES`.", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
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
        .ok_or(ApiError::ParameterNotProvided("total_size"))?;
    let total_size = whole_number(&total_size)
        .filter(|size| *size > 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "total_size",
                "it must be a whole number of bytes, at least 1",
            )
        })?;
    let user_metadata = body
        .user_metadata
        .map(|value| {
            UserMetadata::from_value(value).map_err(|e| ApiError::invalid("user_metadata", e.0))
        })
        .transpose()?;
    // Last: a request that is wrong is told so, whatever its size.
    if total_size > state.config.max_upload_bytes {
        return Err(ApiError::FileTooLarge {
            limit: state.config.max_upload_bytes,
        });
    }
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
        Json(Session {
            upload_urls: chunk_urls(&state, &base, &session, 1, first),
            upload_id: session.id,
            asset_id: session.asset_id,
            chunk_size: session.chunk_size,
            total_chunks: session.total_chunks,
            upload_headers: UploadHeaders {
                content_type: "application/octet-stream",
            },
            expires_at: Timestamp::from_millis(session.expires_at),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
struct UrlsBody {
    /// The first chunk (1-based), at most `total_chunks`.
    #[schema(value_type = u64, minimum = 1)]
    start: Option<Value>,
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 50, default = 50)]
    count: Option<Value>,
}

/// Fresh chunk URLs.
#[derive(Serialize, ToSchema)]
struct ChunkUrls {
    upload_id: String,
    start_index: u64,
    count: u64,
    upload_urls: Vec<ChunkUrl>,
    generated_at: Timestamp,
    expires_at: Timestamp,
}

/// Fresh URLs for `count` (at most 50) chunks from `start` (1-based).
#[utoipa::path(
    post,
    operation_id = "create_presigned_urls",
    path = "/assets/multipart-uploads/{upload_id}/presigned-urls",
    tag = "multipart uploads",
    security(("apiKey" = [])),
    params(("upload_id" = String, Path)),
    request_body = UrlsBody,
    responses(
        (status = 200, description = "The URLs (only as many as there are chunks from `start`).", body = ChunkUrls),
        (status = 400, description = "`start` or `count` is missing or out of range.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such session in this account.", body = ErrorBody),
    ),
)]
async fn presigned_urls(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Path(upload_id): Path<String>,
    Json(body): Json<UrlsBody>,
) -> Result<Json<ChunkUrls>, ApiError> {
    let session = session_of(&state, account, &upload_id).await?;
    let total = session.total_chunks as u64;
    let start = body
        .start
        .filter(|start| !start.is_null())
        .ok_or(ApiError::ParameterNotProvided("start"))?;
    let start = whole_number(&start).unwrap_or(0);
    if start == 0 || start > total {
        return Err(ApiError::invalid(
            "start",
            format!("it must be between 1 and {total}"),
        ));
    }
    let count = match body.count.filter(|count| !count.is_null()) {
        Some(count) => whole_number(&count).unwrap_or(0),
        None => URLS_AT_ONCE,
    };
    if count == 0 || count > URLS_AT_ONCE {
        return Err(ApiError::invalid(
            "count",
            format!("it must be between 1 and {URLS_AT_ONCE}"),
        ));
    }
    let count = count.min(total - start + 1);
    Ok(Json(ChunkUrls {
        upload_urls: chunk_urls(&state, &base, &session, start, count),
        upload_id: session.id,
        start_index: start,
        count,
        generated_at: Timestamp::now(),
        expires_at: Timestamp::from_millis(session.expires_at),
    }))
}

/// One chunk of a multipart upload, at the signed URL its session handed out.
///
/// No API key: the URL carries the permission, until the session expires; the
/// same URL may be PUT again (a retry replaces the chunk until it is reported;
/// a reported chunk is final: the same bytes again get the same ETag, other
/// bytes 409 `chunk_already_reported`). The body must be exactly the chunk's
/// size (`chunk_size`, the last one the rest). Answers 200 with a strong,
/// quoted `ETag`: the proof to report.
#[utoipa::path(
    put,
    operation_id = "upload_chunk",
    path = "/uploads/{upload_id}/{index}/{expires}/{signature}",
    tag = "multipart uploads",
    params(
        ("upload_id" = String, Path),
        ("index" = u64, Path, minimum = 1),
        ("expires" = i64, Path, description = "Unix seconds."),
        ("signature" = String, Path),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored.", headers(("ETag" = String, description = "The proof to report."))),
        (status = 400, description = "The body is not the chunk's size.", body = ErrorBody),
        (status = 403, description = "The URL's signature is wrong or expired.", body = ErrorBody),
        (status = 404, description = "No such session or chunk.", body = ErrorBody),
        (status = 409, description = "The session is not active, or the chunk was reported with other bytes.", body = ErrorBody),
    ),
)]
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

#[derive(Deserialize, ToSchema)]
struct ReportBody {
    #[schema(value_type = Vec<CompletedChunk>)]
    completed_chunks: Option<Vec<CompletedChunk>>,
}

/// A chunk uploaded, with its proof.
#[derive(Deserialize, ToSchema)]
struct CompletedChunk {
    /// 1-based, at most `total_chunks`.
    #[schema(value_type = u64, minimum = 1)]
    chunk_index: Option<Value>,
    /// The ETag its upload answered.
    #[schema(value_type = String)]
    proof: Option<String>,
    /// `etag`, the only kind; ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    #[allow(dead_code)]
    proof_type: Option<Value>,
    /// The chunk's bytes, as the SDKs send it; ignored.
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    #[allow(dead_code)]
    chunk_size: Option<Value>,
}

/// What a report did.
#[derive(Serialize, ToSchema)]
struct ReportOutcome {
    asset_id: String,
    processed_chunks: u64,
    duplicate_chunks: u64,
    total_completed: u64,
    /// The asset's URL, once every chunk is reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    url: Option<String>,
}

/// Report uploaded chunks with their ETag as proof (any order, duplicates
/// allowed).
///
/// All reports of a call are checked before any is recorded: a chunk not
/// uploaded, or a proof that is not the ETag of the stored chunk, is a 400.
/// `url` (the asset's) is in the answer only once every chunk is reported;
/// the file is then assembled and processed like a direct upload.
#[utoipa::path(
    post,
    operation_id = "report_chunks",
    path = "/assets/multipart-uploads/{upload_id}",
    tag = "multipart uploads",
    security(("apiKey" = [])),
    params(("upload_id" = String, Path)),
    request_body = ReportBody,
    responses(
        (status = 200, description = "What the report did.", body = ReportOutcome),
        (status = 400, description = "A report is invalid: unknown chunk, not uploaded, or a wrong proof.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such session in this account.", body = ErrorBody),
        (status = 409, description = "The session is not active.", body = ErrorBody),
    ),
)]
async fn report(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    Path(upload_id): Path<String>,
    Json(body): Json<ReportBody>,
) -> Result<Json<ReportOutcome>, ApiError> {
    let chunks = body
        .completed_chunks
        .ok_or(ApiError::ParameterNotProvided("completed_chunks"))?;
    let reports = chunks
        .into_iter()
        .map(|chunk| {
            match (
                chunk.chunk_index.as_ref().and_then(whole_number),
                chunk.proof,
            ) {
                (Some(index), Some(proof)) => Ok((index, proof)),
                _ => Err(ApiError::invalid(
                    "completed_chunks",
                    "each needs chunk_index and proof",
                )),
            }
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
    // The helpers stop at the first answer with a URL: the asset's.
    let url = complete.then(|| {
        let mut url = base;
        url.set_path(&format!("/v1.3/assets/{asset_id}"));
        url.to_string()
    });
    Ok(Json(ReportOutcome {
        asset_id,
        processed_chunks: processed,
        duplicate_chunks: duplicates,
        total_completed,
        url,
    }))
}

/// A session's status and a page of its chunks.
#[derive(Serialize, ToSchema)]
struct SessionStatus {
    upload_id: String,
    #[schema(value_type = SessionState)]
    status: String,
    /// Every chunk, pending ones too, paged by `page` and `page_limit`.
    uploaded_chunks: Vec<ChunkStatus>,
    chunks_completed: u64,
    chunks_failed: u64,
    chunks_pending: u64,
    total_size: i64,
    uploaded_size: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    page_info: PageInfo,
}

/// Where a session is.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum SessionState {
    Active,
    Completed,
    Failed,
    Expired,
}

#[derive(Serialize, ToSchema)]
struct ChunkStatus {
    #[schema(minimum = 1)]
    index: u64,
    /// `completed`, or `pending` until it is uploaded.
    #[schema(value_type = ChunkState)]
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    uploaded_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    updated_at: Option<Timestamp>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ChunkState {
    Completed,
    Pending,
    Failed,
}

/// A session's status; `uploaded_chunks` lists every chunk (pending ones
/// too), paged.
#[utoipa::path(
    get,
    operation_id = "retrieve_multipart_upload",
    path = "/assets/multipart-uploads/{upload_id}",
    tag = "multipart uploads",
    security(("apiKey" = [])),
    params(("upload_id" = String, Path), PageQuery),
    responses(
        (status = 200, description = "The status.", body = SessionStatus),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 404, description = "No such session in this account.", body = ErrorBody),
    ),
)]
async fn status(
    State(state): State<AppState>,
    Account(account): Account,
    Path(upload_id): Path<String>,
    paging: Paging,
) -> Result<Json<SessionStatus>, ApiError> {
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
    let listed: Vec<ChunkStatus> = (first..=last)
        .map(|index| match by_index.get(&(index as i64)) {
            Some(chunk) => ChunkStatus {
                index,
                status: chunk.status.clone(),
                uploaded_at: Some(Timestamp::from_millis(chunk.uploaded_at)),
                updated_at: Some(Timestamp::from_millis(chunk.updated_at)),
            },
            None => ChunkStatus {
                index,
                status: "pending".into(),
                uploaded_at: None,
                updated_at: None,
            },
        })
        .collect();
    let status = if session.status == "active" && session.expires_at < db::now_millis() {
        "expired".to_string()
    } else {
        session.status.clone()
    };
    let ListView { data, page_info } = paging.page_of(listed, total);
    Ok(Json(SessionStatus {
        upload_id: session.id,
        status,
        uploaded_chunks: data,
        chunks_completed: completed,
        chunks_failed: 0,
        chunks_pending: total - completed,
        total_size: session.total_size,
        uploaded_size,
        created_at: Timestamp::from_millis(session.created_at),
        updated_at: Timestamp::from_millis(session.updated_at),
        page_info,
    }))
}

/// An incomplete session.
#[derive(Serialize, ToSchema)]
struct ActiveSession {
    upload_id: String,
    #[schema(value_type = SessionState)]
    status: String,
    total_size: i64,
    chunk_size: i64,
    total_chunks: i64,
    created_at: Timestamp,
    expires_at: Timestamp,
}

/// The account's incomplete (active) sessions, newest first.
#[utoipa::path(
    get,
    operation_id = "list_multipart_uploads",
    path = "/assets/multipart-uploads",
    tag = "multipart uploads",
    security(("apiKey" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page.", body = ListView<ActiveSession>),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    Account(account): Account,
    paging: Paging,
) -> Result<Json<ListView<ActiveSession>>, ApiError> {
    let (rows, total) =
        db::multipart::list_active(&state.pool, account, paging.offset(), paging.limit.get())
            .await?;
    let data = rows
        .into_iter()
        .map(|session| ActiveSession {
            upload_id: session.id,
            status: session.status,
            total_size: session.total_size,
            chunk_size: session.chunk_size,
            total_chunks: session.total_chunks,
            created_at: Timestamp::from_millis(session.created_at),
            expires_at: Timestamp::from_millis(session.expires_at),
        })
        .collect();
    Ok(Json(paging.page_of(data, total)))
}
