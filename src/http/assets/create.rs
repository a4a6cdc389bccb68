//! `/v1.3/assets`: create (direct upload or URL), list, retrieve, delete.

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Account;
use super::error::ApiError;
use super::paging::{ListView, Paging};
use super::{format_timestamp, AppState};
use crate::assets::{self, Deleted, IngestError, NewAssetRequest, Services};
use crate::db::assets::{AssetRecord, ListFilter};
use crate::domain::{
    AssetId, AssetKind, AssetMethod, AssetStatus, Filename, StepStatus, UserMetadata,
};
use crate::fetch::{Download, FetchError};
use crate::signing::{now_secs, UrlSigner};
use crate::storage::{Upload, UploadError, HEAD_LEN};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/assets",
            get(list)
                .post(create)
                // The upload limit is enforced while the file streams in, not on the whole body.
                .layer(DefaultBodyLimit::disable())
                .layer(axum::middleware::from_fn_with_state(
                    state,
                    super::rate_limit::limit_creates,
                )),
        )
        .route("/assets/{asset_id}", get(retrieve).delete(remove))
}

// ---------------------------------------------------------------- views

#[derive(Serialize)]
struct AssetView {
    #[serde(rename = "_id")]
    id: String,
    method: AssetMethod,
    status: AssetStatus,
    filename: String,
    file_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hls: Option<HlsView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail: Option<ThumbnailView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    technical_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_metadata: Option<Value>,
}

#[derive(Serialize)]
struct HlsView {
    status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorView>,
}

#[derive(Serialize)]
struct ThumbnailView {
    status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    representative_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorView>,
}

#[derive(Serialize)]
struct ErrorView {
    message: String,
}

impl AssetView {
    /// The wire form of an asset. Media URLs are signed afresh on every read,
    /// which is what renews their expiry.
    fn new(a: AssetRecord, signer: &UrlSigner) -> Self {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        let now = now_secs();
        let url_if_ready = |status: StepStatus, file: &str| {
            (status == StepStatus::Ready).then(|| signer.url(a.id, file, now))
        };
        let step_error = |status: StepStatus, message: Option<String>| {
            (status == StepStatus::Error).then(|| ErrorView {
                // Only a failed asset has a step in error without a message of its own.
                message: message
                    .unwrap_or_else(|| "Not made: the file itself could not be processed.".into()),
            })
        };
        Self {
            id: a.id.as_string(),
            method: a.method,
            status: a.status,
            hls: a.hls_status.map(|status| HlsView {
                status,
                manifest_url: url_if_ready(status, "hls/master.m3u8"),
                error: step_error(status, a.hls_error.clone()),
            }),
            thumbnail: a.thumbnail_status.map(|status| ThumbnailView {
                status,
                representative_url: url_if_ready(status, "thumb.jpg"),
                error: step_error(status, a.thumbnail_error.clone()),
            }),
            filename: a.filename,
            file_type: a.file_type,
            // The platform leaves size and duration out until the asset is processed.
            size: (a.status != AssetStatus::Processing).then_some(a.size_bytes),
            duration: a.duration_seconds,
            created_at: format_timestamp(a.created_at),
            technical_metadata: json(a.technical_metadata),
            error: (a.status == AssetStatus::Failed).then(|| ErrorView {
                message: a
                    .error_message
                    .unwrap_or_else(|| "The file could not be processed.".into()),
            }),
            user_metadata: json(a.user_metadata),
        }
    }
}

// ---------------------------------------------------------------- create

/// The text fields of the form; unknown fields are ignored.
#[derive(Default)]
struct CreateForm {
    method: Option<String>,
    url: Option<String>,
    filename: Option<String>,
    enable_hls: Option<String>,
    enable_thumbnail: Option<String>,
    user_metadata: Option<String>,
    file: Option<FilePart>,
}

struct FilePart {
    upload: Upload,
    name_hint: Option<String>,
}

/// A text field longer than this is refused (user_metadata has its own, smaller cap).
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// After an upload passes the limit, this much more is read and thrown away so
/// that the client sees the 413 instead of a reset connection.
const DRAIN_AFTER_LIMIT: u64 = 64 * 1024 * 1024;

async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let multipart = multipart.map_err(|e| {
        ApiError::invalid(
            "body",
            format!("it must be multipart/form-data ({})", e.body_text()),
        )
    })?;
    let form = read_form(&state, multipart).await?;

    let method = match form.method.as_deref().map(str::trim) {
        None | Some("") => return Err(ApiError::ParameterNotProvided("method")),
        Some(raw) => AssetMethod::parse(raw).ok_or_else(|| ApiError::ParameterUnknown {
            name: "method",
            value: raw.to_string(),
            expected: "direct, url",
        })?,
    };
    let explicit_filename = match form.filename.as_deref().filter(|f| !f.is_empty()) {
        Some(raw) => Some(Filename::parse(raw).map_err(|e| ApiError::invalid("filename", e.0))?),
        None => None,
    };
    let user_metadata = match form
        .user_metadata
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        Some(raw) => {
            Some(UserMetadata::parse(raw).map_err(|e| ApiError::invalid("user_metadata", e.0))?)
        }
        None => None,
    };
    let enable_hls = parse_bool("enable_hls", form.enable_hls.as_deref())?;
    let enable_thumbnail = parse_bool("enable_thumbnail", form.enable_thumbnail.as_deref())?;

    let (source, filename, source_url) = match method {
        AssetMethod::Direct => {
            let file = form.file.ok_or(ApiError::ParameterNotProvided("file"))?;
            let filename = explicit_filename
                .or_else(|| file.name_hint.as_deref().and_then(Filename::from_hint))
                .unwrap_or_else(|| Filename::parse("untitled").expect("a valid name"));
            (Source::Upload(file.upload), filename, None)
        }
        AssetMethod::Url => {
            let raw_url = form
                .url
                .filter(|u| !u.trim().is_empty())
                .ok_or(ApiError::ParameterNotProvided("url"))?;
            drop(form.file);
            let url = state.fetcher.parse(&raw_url).map_err(fetch_error)?;
            let download = state
                .fetcher
                .open(url.clone(), 0)
                .await
                .map_err(fetch_error)?;
            let filename = explicit_filename
                .or_else(|| name_from_url(&download.final_url))
                .or_else(|| name_from_url(&url))
                .unwrap_or_else(|| Filename::parse("download").expect("a valid name"));
            let source = fetch_or_defer(&state, download).await?;
            (source, filename, Some(url.to_string()))
        }
    };

    let request = NewAssetRequest {
        account,
        method,
        filename,
        source_url,
        user_metadata,
        enable_hls,
        enable_thumbnail,
    };
    let ingested = match source {
        Source::Upload(upload) => assets::ingest(services(&state), request, upload).await,
        Source::Deferred(head) => assets::ingest_remote(services(&state), request, &head).await,
    };
    let record = ingested.map_err(|e| match e {
        IngestError::Empty => ApiError::invalid("file", "the file is empty"),
        IngestError::Unsupported(message) => ApiError::FileTypeUnsupported(message),
        IngestError::Internal(e) => ApiError::Internal(e),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(AssetView::new(record, &state.signer)),
    ))
}

/// Where a new asset's bytes are.
enum Source {
    /// Received (or fetched) within the request.
    Upload(Upload),
    /// A URL's file to download in the background; its first bytes, for sniffing.
    Deferred(Vec<u8>),
}

/// A URL's file is fetched within the request when the origin says how large it
/// is and that is within the sync threshold; otherwise only its first bytes are
/// read here (to refuse what is not media at once) and a job downloads it.
async fn fetch_or_defer(state: &AppState, mut download: Download) -> Result<Source, ApiError> {
    let limit = state.config.max_upload_bytes;
    match download.content_length() {
        Some(length) if length > limit => Err(ApiError::FileTooLarge { limit }),
        Some(length) if length <= state.config.sync_max_bytes => {
            let writer = state.storage.begin_upload(limit).await?;
            Ok(Source::Upload(
                download.save(writer).await.map_err(fetch_error)?,
            ))
        }
        _ => Ok(Source::Deferred(
            download.head(HEAD_LEN).await.map_err(fetch_error)?,
        )),
    }
}

fn services(state: &AppState) -> Services<'_> {
    Services {
        pool: &state.pool,
        storage: &state.storage,
        media: &state.media,
        queue: &state.queue,
        sync_max_bytes: state.config.sync_max_bytes,
        job_max_attempts: state.config.job_max_attempts,
    }
}

/// Reads every part in whatever order it comes; the file streams to a temporary file.
async fn read_form(state: &AppState, mut multipart: Multipart) -> Result<CreateForm, ApiError> {
    let mut form = CreateForm::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let slot = match field.name().unwrap_or_default() {
            "file" => {
                if form.file.is_some() {
                    return Err(ApiError::invalid("file", "only one file may be sent"));
                }
                match receive_file(state, field).await {
                    Ok(file) => form.file = Some(file),
                    Err(too_large @ ApiError::FileTooLarge { .. }) => {
                        // Read (a bounded amount of) the rest so that the client gets
                        // to read the 413 instead of a reset connection.
                        while let Ok(Some(next)) = multipart.next_field().await {
                            drain(next, DRAIN_AFTER_LIMIT).await;
                        }
                        return Err(too_large);
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            "method" => &mut form.method,
            "url" => &mut form.url,
            "filename" => &mut form.filename,
            "enable_hls" => &mut form.enable_hls,
            "enable_thumbnail" => &mut form.enable_thumbnail,
            "user_metadata" => &mut form.user_metadata,
            _ => {
                drain(field, u64::MAX).await;
                continue;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        *slot = Some(read_text(field, &name).await?);
    }
    Ok(form)
}

async fn receive_file(state: &AppState, mut field: Field<'_>) -> Result<FilePart, ApiError> {
    let name_hint = field.file_name().map(str::to_owned);
    let mut writer = state
        .storage
        .begin_upload(state.config.max_upload_bytes)
        .await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        match writer.write(chunk).await {
            Ok(()) => {}
            Err(UploadError::TooLarge { limit }) => {
                drop(writer);
                drain(field, DRAIN_AFTER_LIMIT).await;
                return Err(ApiError::FileTooLarge { limit });
            }
            Err(UploadError::Io(e)) => return Err(e.into()),
        }
    }
    Ok(FilePart {
        upload: writer.finish().await?,
        name_hint,
    })
}

/// Reads and discards up to `budget` bytes of a field.
async fn drain(mut field: Field<'_>, budget: u64) {
    let mut read = 0u64;
    while read < budget {
        match field.chunk().await {
            Ok(Some(chunk)) => read += chunk.len() as u64,
            _ => break,
        }
    }
}

async fn read_text(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::invalid(
                static_name(name),
                format!("it must be at most {MAX_TEXT_FIELD} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid(static_name(name), "it must be UTF-8 text"))
}

/// Error messages name fields by `&'static str`; only known fields reach here.
fn static_name(name: &str) -> &'static str {
    [
        "method",
        "url",
        "filename",
        "enable_hls",
        "enable_thumbnail",
        "user_metadata",
    ]
    .into_iter()
    .find(|known| *known == name)
    .unwrap_or("form field")
}

fn multipart_error(e: MultipartError) -> ApiError {
    ApiError::invalid(
        "body",
        format!("it is not valid multipart/form-data ({})", e.body_text()),
    )
}

fn parse_bool(name: &'static str, raw: Option<&str>) -> Result<bool, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::invalid(name, "it must be true or false")),
    }
}

fn fetch_error(e: FetchError) -> ApiError {
    match e {
        FetchError::InvalidUrl(reason) => ApiError::invalid("url", reason),
        FetchError::NotAllowed(message) => ApiError::UrlNotAllowed(message),
        FetchError::TooLarge { limit } => ApiError::FileTooLarge { limit },
        FetchError::Remote(reason) => {
            ApiError::invalid("url", format!("the file could not be downloaded: {reason}"))
        }
        FetchError::Io(e) => e.into(),
    }
}

/// The URL's last path segment, decoded, as a name hint.
fn name_from_url(url: &url::Url) -> Option<Filename> {
    let segment = url.path_segments()?.rfind(|s| !s.is_empty())?;
    let decoded = percent_decode(segment);
    Filename::from_hint(&decoded)
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

// ---------------------------------------------------------------- list

/// Raw query values; validated into domain types in `list` so each error names its parameter.
#[derive(Deserialize)]
struct ListQuery {
    page: Option<String>,
    page_limit: Option<String>,
    #[serde(default)]
    asset_ids: Vec<String>,
    #[serde(default)]
    asset_types: Vec<String>,
    filename: Option<String>,
}

/// At most this many ids in one `asset_ids` filter.
const MAX_FILTER_IDS: usize = 100;

/// Repeated keys and comma-separated values both make lists.
fn split_list(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

async fn list(
    State(state): State<AppState>,
    Account(account): Account,
    query: Result<axum_extra::extract::Query<ListQuery>, axum_extra::extract::QueryRejection>,
) -> Result<Json<ListView<AssetView>>, ApiError> {
    let axum_extra::extract::Query(query) = query?;
    let paging = Paging::parse(query.page.as_deref(), query.page_limit.as_deref())?;
    let asset_ids = split_list(&query.asset_ids)
        .map(|raw| {
            AssetId::parse(raw)
                .map_err(|e| ApiError::invalid("asset_ids", format!("'{raw}': {}", e.0)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if asset_ids.len() > MAX_FILTER_IDS {
        return Err(ApiError::invalid(
            "asset_ids",
            format!("at most {MAX_FILTER_IDS} ids may be given"),
        ));
    }
    let requested_types = split_list(&query.asset_types)
        .map(|raw| {
            AssetKind::parse_filter(raw).map_err(|_| ApiError::ParameterUnknown {
                name: "asset_types",
                value: raw.to_string(),
                expected: "video, audio, image, document",
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kinds =
        (!requested_types.is_empty()).then(|| requested_types.into_iter().flatten().collect());
    let filename_contains = query
        .filename
        .filter(|f| !f.is_empty())
        .map(|f| f.to_lowercase());
    if filename_contains
        .as_ref()
        .is_some_and(|f| f.chars().count() > Filename::MAX_CHARS)
    {
        return Err(ApiError::invalid(
            "filename",
            format!("it must be at most {} characters long", Filename::MAX_CHARS),
        ));
    }

    let filter = ListFilter {
        asset_ids,
        kinds,
        filename_contains,
    };
    let (records, total) = crate::db::assets::list(
        &state.pool,
        account,
        &filter,
        paging.offset(),
        paging.limit.get(),
    )
    .await?;
    let data = records
        .into_iter()
        .map(|r| AssetView::new(r, &state.signer))
        .collect();
    Ok(Json(paging.page_of(data, total)))
}

// ---------------------------------------------------------------- retrieve, delete

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
    Path(raw_id): Path<String>,
) -> Result<Json<AssetView>, ApiError> {
    let id = asset_id(&raw_id)?;
    let record = crate::db::assets::find(&state.pool, account, id)
        .await?
        .ok_or_else(|| not_found(&raw_id))?;
    Ok(Json(AssetView::new(record, &state.signer)))
}

#[derive(Deserialize)]
struct DeleteQuery {
    force: Option<String>,
}

async fn remove(
    State(state): State<AppState>,
    Account(account): Account,
    Path(raw_id): Path<String>,
    query: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(query) = query?;
    let force = parse_bool("force", query.force.as_deref())?;
    let id = asset_id(&raw_id)?;
    match assets::delete(
        &state.pool,
        &state.storage,
        &state.queue,
        account,
        id,
        force,
    )
    .await?
    {
        Deleted::Yes => Ok(StatusCode::NO_CONTENT),
        Deleted::NotFound => Err(not_found(&raw_id)),
        Deleted::InUse { references } => Err(ApiError::AssetInUse { references }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_repeats_and_commas() {
        let values = vec![
            "video,audio".to_string(),
            " image ".to_string(),
            ",".to_string(),
        ];
        assert_eq!(
            split_list(&values).collect::<Vec<_>>(),
            ["video", "audio", "image"]
        );
    }

    #[test]
    fn url_names_are_decoded_base_names() {
        let url = url::Url::parse("https://example.com/media/my%20clip%2B1.mp4?sig=x").unwrap();
        assert_eq!(name_from_url(&url).unwrap().as_str(), "my clip+1.mp4");
        assert!(name_from_url(&url::Url::parse("https://example.com/").unwrap()).is_none());
    }

    #[test]
    fn booleans_are_strict() {
        assert!(parse_bool("x", Some("TRUE")).unwrap());
        assert!(!parse_bool("x", None).unwrap());
        assert!(parse_bool("x", Some("yes")).is_err());
    }
}
