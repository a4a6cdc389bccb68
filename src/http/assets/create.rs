//! `POST /v1.3/assets`: the multipart form, read in whatever order its parts
//! come (the file streams through the storage writer), validated into a
//! request for `assets::ingest` or `assets::ingest_url`.

use crate::stats::{UploadInFlight, UploadMethod};
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::{parse_bool, TextBool};
use crate::assets::AssetView;
use crate::assets::{self, IngestError, NewAssetRequest};
use crate::domain::{AccountId, AssetMethod, Filename, UserMetadata};
use crate::fetch::FetchError;
use crate::http::auth::Account;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extractors::Json;
use crate::http::public_base::PublicBase;
use crate::http::AppState;
use crate::storage::{Upload, UploadError};

// The OpenAPI document describes this struct (utoipa reads its attributes;
// each part arrives as text, whatever `value_type` it is documented as).
// JSON Schema's `oneOf` could tie each part to its method, but the fuzzer
// cannot fill a file part under it. Unknown parts are ignored.
/// The form of `POST /v1.3/assets`: `file` is required with method `direct`,
/// `url` with method `url`; `filename` wins over the part's file name or the
/// URL's last segment.
#[derive(Default, utoipa::ToSchema)]
#[schema(as = CreateAssetForm)]
struct CreateForm {
    /// `direct` (the file is in `file`) or `url` (the server fetches `url`).
    #[schema(value_type = String, pattern = "^\\s*(direct|url)\\s*$", example = "direct")]
    method: Option<String>,
    /// With method `direct`: the file; it streams to disk.
    #[schema(value_type = Option<String>, format = Binary, nullable = false)]
    file: Option<FilePart>,
    /// With method `url` (and refused with `direct`): http or https. Private
    /// addresses are refused unless `ASSETD_ALLOW_PRIVATE_URLS` is set.
    #[schema(format = "uri", nullable = false)]
    url: Option<String>,
    // These are inline, and so without a description of their own: the
    // fuzzer takes a string behind a reference for any type.
    #[schema(value_type = Option<Filename>, inline, nullable = false)]
    filename: Option<String>,
    #[schema(value_type = Option<TextBool>, inline, nullable = false)]
    enable_hls: Option<String>,
    #[schema(value_type = Option<TextBool>, inline, nullable = false)]
    enable_thumbnail: Option<String>,
    /// A JSON object of strings, numbers, booleans or arrays of strings.
    #[schema(nullable = false)]
    user_metadata: Option<String>,
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

/// Create an asset by direct upload or from a URL.
///
/// Parts may come in any order; the file streams to disk. Files up to
/// `ASSETD_SYNC_MAX_BYTES` (default 200 MiB) are probed before the answer
/// (`ready` or `failed`); larger ones answer `processing` and a background
/// job probes them. A URL is fetched within the request when its
/// Content-Length is known and within that threshold; otherwise its first
/// bytes are checked (non-media is refused at once) and a job downloads it.
#[utoipa::path(
    post,
    operation_id = "create_asset",
    path = "/assets",
    tag = "assets",
    security(("apiKey" = [])),
    request_body(content = CreateForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The asset.", body = AssetView, links(
            ("retrieve" = (operation_id = "retrieve_asset", parameters(("asset_id" = "$response.body#/_id")))),
            ("delete" = (operation_id = "delete_asset", parameters(("asset_id" = "$response.body#/_id")))),
            ("replace_user_metadata" = (operation_id = "replace_asset_user_metadata", parameters(("asset_id" = "$response.body#/_id")))),
            ("update_user_metadata" = (operation_id = "update_asset_user_metadata", parameters(("asset_id" = "$response.body#/_id")))),
            ("delete_user_metadata" = (operation_id = "delete_asset_user_metadata", parameters(("asset_id" = "$response.body#/_id")))),
            ("references" = (operation_id = "list_asset_references", parameters(("asset_id" = "$response.body#/_id")))),
        )),
        (status = 400, description = "A field is missing or invalid, the file is not media, or the URL is refused.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
        (status = 413, description = "The file is larger than `ASSETD_MAX_UPLOAD_BYTES`.", body = ErrorBody),
        (status = 429, description = "Over the account's upload rate (a token bucket). Every answer of this operation carries `X-Ratelimit-Limit` (the bucket's size), `X-Ratelimit-Remaining` and `X-Ratelimit-Reset` (seconds until full); a 429 also carries `Retry-After` (seconds).", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let multipart = multipart.map_err(|e| {
        ApiError::invalid(
            "body",
            format!("it must be multipart/form-data ({})", e.body_text()),
        )
    })?;
    let form = read_form(&state, multipart).await?;
    let fields = form.validate()?;
    let record = match fields.method {
        AssetMethod::Direct => {
            if form.url.is_some() {
                return Err(ApiError::invalid(
                    "url",
                    "it is read only with method url; send the file alone with method direct",
                ));
            }
            let file = form.file.ok_or(ApiError::ParameterNotProvided("file"))?;
            let filename = fields
                .filename
                .clone()
                .or_else(|| file.name_hint.as_deref().and_then(Filename::from_hint))
                .unwrap_or_else(|| Filename::parse("untitled").expect("a valid name"));
            let request = fields.request(account, filename, None);
            assets::ingest(&state, request, file.upload).await
        }
        AssetMethod::Url => {
            drop(form.file);
            let raw_url = form
                .url
                .filter(|u| !u.trim().is_empty())
                .ok_or(ApiError::ParameterNotProvided("url"))?;
            let url = state.fetcher.parse(&raw_url).map_err(fetch_error)?;
            let download = state
                .fetcher
                .open(url.clone(), 0)
                .await
                .map_err(fetch_error)?;
            let filename = fields
                .filename
                .clone()
                .or_else(|| name_from_url(&download.final_url))
                .or_else(|| name_from_url(&url))
                .unwrap_or_else(|| Filename::parse("download").expect("a valid name"));
            let request = fields.request(account, filename, Some(url.to_string()));
            assets::ingest_url(&state, request, download).await
        }
        // Refused by `validate`: a multipart asset is made by its session.
        AssetMethod::Multipart => return Err(ApiError::ParameterNotProvided("file")),
    }
    .map_err(|e| match e {
        IngestError::Empty => ApiError::invalid("file", "the file is empty"),
        IngestError::Unsupported(message) => ApiError::FileTypeUnsupported(message),
        IngestError::Fetch(e) => fetch_error(e),
        IngestError::Internal(e) => ApiError::Internal(e),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(AssetView::new(record, &state.signer, &base)),
    ))
}

/// The form's text fields, validated.
struct Fields {
    method: AssetMethod,
    filename: Option<Filename>,
    user_metadata: Option<UserMetadata>,
    enable_hls: bool,
    enable_thumbnail: bool,
}

impl Fields {
    fn request(
        self,
        account: AccountId,
        filename: Filename,
        source_url: Option<String>,
    ) -> NewAssetRequest {
        NewAssetRequest {
            account,
            method: self.method,
            filename,
            source_url,
            user_metadata: self.user_metadata,
            enable_hls: self.enable_hls,
            enable_thumbnail: self.enable_thumbnail,
        }
    }
}

impl CreateForm {
    fn validate(&self) -> Result<Fields, ApiError> {
        let method = match self.method.as_deref().map(str::trim) {
            None | Some("") => return Err(ApiError::ParameterNotProvided("method")),
            // A multipart asset is made by its session, never by this form.
            Some(raw) => AssetMethod::parse(raw)
                .filter(|m| *m != AssetMethod::Multipart)
                .ok_or_else(|| ApiError::ParameterUnknown {
                    name: "method",
                    value: raw.to_string(),
                    expected: "direct, url",
                })?,
        };
        let filename = match self.filename.as_deref() {
            Some(raw) => {
                Some(Filename::parse(raw).map_err(|e| ApiError::invalid("filename", e.0))?)
            }
            None => None,
        };
        let user_metadata = match self
            .user_metadata
            .as_deref()
            .filter(|m| !m.trim().is_empty())
        {
            Some(raw) => Some(
                UserMetadata::parse(raw).map_err(|e| ApiError::invalid("user_metadata", e.0))?,
            ),
            None => None,
        };
        Ok(Fields {
            method,
            filename,
            user_metadata,
            enable_hls: parse_bool("enable_hls", self.enable_hls.as_deref())?,
            enable_thumbnail: parse_bool("enable_thumbnail", self.enable_thumbnail.as_deref())?,
        })
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
    let _in_flight = UploadInFlight::start(UploadMethod::Direct);
    let mut writer = state.storage.begin_upload().await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        UploadMethod::Direct.received(chunk.len());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names_are_decoded_base_names() {
        let url = url::Url::parse("https://example.com/media/my%20clip%2B1.mp4?sig=x").unwrap();
        assert_eq!(name_from_url(&url).unwrap().as_str(), "my clip+1.mp4");
        assert!(name_from_url(&url::Url::parse("https://example.com/").unwrap()).is_none());
    }
}
