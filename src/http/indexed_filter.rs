//! The query of `GET /v1.3/indexes/{id}/indexed-assets`: paging, order and
//! filters, read from the raw query string because both SDKs send keys that
//! carry structure: `status` repeated, ranges as `duration[gte]=1`, and user
//! metadata as `user_metadata[k]=v` (Python) or one JSON object
//! `user_metadata={"k":"v"}` (JS). Unknown parameters are ignored, as on the
//! other lists; a known one with a bad value is a 400 that names it.

use serde_json::Value;
use utoipa::IntoParams;

use super::error::ApiError;
use super::paging::{by_updated, descending, Paging};
use crate::db::indexes::{IndexedFilter, Measure};
use crate::domain::{printable, Filename, Timestamp};

/// The statuses the platform gives an indexed asset, as the OpenAPI
/// document names them: [`STATUSES`].
pub struct IndexedStatus;

impl utoipa::PartialSchema for IndexedStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("The statuses the platform gives an indexed asset."))
            .enum_values(Some(STATUSES))
            .into()
    }
}

impl utoipa::ToSchema for IndexedStatus {}

/// The statuses of an indexed asset (here every one is `ready`: nothing is indexed).
const STATUSES: [&str; 6] = [
    "ready",
    "pending",
    "queued",
    "indexing",
    "validating",
    "failed",
];

const MEASURES: [(&str, Measure); 5] = [
    ("duration", Measure::Duration),
    ("fps", Measure::Fps),
    ("width", Measure::Width),
    ("height", Measure::Height),
    ("size", Measure::Size),
];

/// The filters [`IndexedQuery`] reads, for the OpenAPI document (the Python
/// SDK's `user_metadata[KEY]=VALUE` keys cannot be listed there).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct IndexedListParams {
    /// Any of these; repeated keys or comma-separated.
    #[param(inline, style = Form, explode, value_type = Option<Vec<IndexedStatus>>)]
    status: Option<Vec<String>>,
    /// A case-insensitive substring of the asset's filename.
    #[param(max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    filename: Option<String>,
    /// Made at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    created_at: Option<String>,
    /// Changed at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    updated_at: Option<String>,
    /// User metadata to match, as one JSON object (the JS SDK's form).
    user_metadata: Option<String>,
    #[param(rename = "duration[gte]")]
    duration_gte: Option<f64>,
    #[param(rename = "duration[lte]")]
    duration_lte: Option<f64>,
    #[param(rename = "fps[gte]")]
    fps_gte: Option<f64>,
    #[param(rename = "fps[lte]")]
    fps_lte: Option<f64>,
    #[param(rename = "width[gte]")]
    width_gte: Option<f64>,
    #[param(rename = "width[lte]")]
    width_lte: Option<f64>,
    #[param(rename = "height[gte]")]
    height_gte: Option<f64>,
    #[param(rename = "height[lte]")]
    height_lte: Option<f64>,
    #[param(rename = "size[gte]")]
    size_gte: Option<f64>,
    #[param(rename = "size[lte]")]
    size_lte: Option<f64>,
}

pub struct IndexedQuery {
    pub paging: Paging,
    pub filter: IndexedFilter,
}

impl IndexedQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let single = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let paging = Paging::parse(single("page"), single("page_limit"))?;
        let mut filter = IndexedFilter {
            by_updated: by_updated(single("sort_by"))?,
            descending: descending(single("sort_option"))?,
            ..IndexedFilter::default()
        };
        if let Some(name) = single("filename").filter(|f| !f.is_empty()) {
            if name.chars().count() > Filename::MAX_CHARS {
                return Err(ApiError::invalid(
                    "filename",
                    format!("it must be at most {} characters long", Filename::MAX_CHARS),
                ));
            }
            let name = printable(name).map_err(|e| ApiError::invalid("filename", e.0))?;
            filter.filename_contains = Some(name.to_lowercase());
        }
        filter.created_since = since(single("created_at"), "created_at")?;
        filter.updated_since = since(single("updated_at"), "updated_at")?;
        for (key, value) in &pairs {
            if key == "status" {
                for status in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !STATUSES.contains(&status) {
                        return Err(ApiError::ParameterUnknown {
                            name: "status",
                            value: status.to_string(),
                            expected: "ready, pending, queued, indexing, validating, failed",
                        });
                    }
                    filter.statuses.push(status.to_string());
                }
            } else if key == "user_metadata" {
                filter.user_metadata.extend(metadata_object(value)?);
            } else if let Some(name) = key
                .strip_prefix("user_metadata[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                filter.user_metadata.push((name.to_string(), value.clone()));
            }
        }
        for (name, measure) in MEASURES {
            let low = bound(single(&format!("{name}[gte]")), name, "gte")?;
            let high = bound(single(&format!("{name}[lte]")), name, "lte")?;
            if low.is_some() || high.is_some() {
                filter.ranges.push((measure, low, high));
            }
        }
        Ok(Self { paging, filter })
    }
}

fn since(raw: Option<&str>, name: &'static str) -> Result<Option<i64>, ApiError> {
    raw.filter(|r| !r.is_empty())
        .map(|r| {
            Timestamp::parse_rfc3339(r)
                .map(Timestamp::millis)
                .map_err(|e| ApiError::invalid(name, e.0))
        })
        .transpose()
}

fn bound(raw: Option<&str>, name: &str, side: &str) -> Result<Option<f64>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(ApiError::invalid(
            // The names are a fixed set: leak them into 'static once each.
            static_range_name(name, side),
            "it must be a number",
        )),
    }
}

/// `duration[gte]` and the like, as the `&'static str` error names are.
fn static_range_name(name: &str, side: &str) -> &'static str {
    const NAMES: [&str; 10] = [
        "duration[gte]",
        "duration[lte]",
        "fps[gte]",
        "fps[lte]",
        "width[gte]",
        "width[lte]",
        "height[gte]",
        "height[lte]",
        "size[gte]",
        "size[lte]",
    ];
    let wanted = format!("{name}[{side}]");
    NAMES.into_iter().find(|n| *n == wanted).unwrap_or("range")
}

/// The JS SDK's form: one JSON object of key to value (a string, number or
/// boolean, compared by its text).
fn metadata_object(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "user_metadata",
            "it must be a JSON object of strings, numbers or booleans, or user_metadata[KEY]=VALUE",
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw) else {
        return Err(invalid());
    };
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Number(_) | Value::Bool(_) => Ok((key, value.to_string())),
            _ => Err(invalid()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sdks_encodings_are_read() {
        let query = IndexedQuery::parse(Some(
            "status=ready&status=failed&duration%5Bgte%5D=1.5&width[lte]=640\
             &user_metadata%5Bcamera%5D=a7&created_at=2026-11-25T10:02:05Z&page=2",
        ))
        .unwrap();
        let filter = &query.filter;
        assert_eq!(filter.statuses, ["ready", "failed"]);
        assert_eq!(
            filter.ranges,
            [
                (Measure::Duration, Some(1.5), None),
                (Measure::Width, None, Some(640.0))
            ]
        );
        assert_eq!(filter.user_metadata, [("camera".into(), "a7".into())]);
        assert!(filter.created_since.is_some());
        let js = IndexedQuery::parse(Some(
            "user_metadata=%7B%22camera%22%3A%22a7%22%2C%22take%22%3A3%7D",
        ))
        .unwrap();
        assert_eq!(
            js.filter.user_metadata,
            [("camera".into(), "a7".into()), ("take".into(), "3".into())]
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (query, name) in [
            ("status=done", "status"),
            ("fps[gte]=fast", "fps[gte]"),
            ("created_at=yesterday", "created_at"),
            ("user_metadata=[1]", "user_metadata"),
            ("sort_by=size", "sort_by"),
        ] {
            let error = IndexedQuery::parse(Some(query)).err().unwrap();
            assert!(error.to_string().contains(name), "{query}: {error}");
        }
    }
}
