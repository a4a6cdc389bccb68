//! `GET /v1.3/assets`: paged, newest first, filtered by ids, kinds and a
//! filename substring.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::assets::AssetView;
use crate::db::assets::ListFilter;
use crate::domain::{printable, AssetId, AssetKind, Filename};
use crate::http::auth::Account;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extractors::{Json, RepeatedQuery};
use crate::http::paging::{ListView, PageQuery, Paging};
use crate::http::public_base::PublicBase;
use crate::http::AppState;

/// Raw query values; validated into domain types in `list` so each error
/// names its parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only these assets: repeated keys or comma-separated, at most 100.
    #[serde(default)]
    #[param(inline, value_type = Option<Vec<AssetId>>, max_items = 100, style = Form, explode)]
    asset_ids: Vec<String>,
    /// Only these kinds: repeated keys or comma-separated.
    #[serde(default)]
    #[param(inline, value_type = Option<Vec<AssetTypeFilter>>, style = Form, explode)]
    asset_types: Vec<String>,
    /// A case-insensitive substring of the filename; `%`, `_` and `\` match
    /// literally.
    #[param(max_length = 255, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    filename: Option<String>,
}

/// What `asset_types` takes: `document`, a kind the platform knows and this
/// server never stores, matches nothing.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum AssetTypeFilter {
    Video,
    Audio,
    Image,
    Document,
}

/// At most this many ids in one `asset_ids` filter.
const MAX_FILTER_IDS: usize = 100;

/// Repeated keys and comma-separated values both make lists; an empty item
/// is kept, for the parse to refuse (the document says what an item is).
fn split_list(values: &[String]) -> impl Iterator<Item = &str> {
    values.iter().flat_map(|v| v.split(',')).map(str::trim)
}

/// List the account's assets, newest first.
#[utoipa::path(
    get,
    operation_id = "list_assets",
    path = "/assets",
    tag = "assets",
    security(("apiKey" = [])),
    params(PageQuery, ListQuery),
    responses(
        (status = 200, description = "One page; a page past the end has empty `data`.", body = ListView<AssetView>),
        (status = 400, description = "A parameter is invalid; the message names it.", body = ErrorBody),
        (status = 401, description = "No valid API key.", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Account(account): Account,
    PublicBase(base): PublicBase,
    paging: Paging,
    RepeatedQuery(query): RepeatedQuery<ListQuery>,
) -> Result<Json<ListView<AssetView>>, ApiError> {
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
        .map(|f| {
            printable(&f)
                .map(str::to_lowercase)
                .map_err(|e| ApiError::invalid("filename", e.0))
        })
        .transpose()?;
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
    let (offset, limit) = (paging.offset(), paging.limit.get());
    let (records, total) = match &state.read_cache {
        Some(cache) => {
            cache
                .list(&state.pool, account, &filter, offset, limit)
                .await?
        }
        None => {
            let inline = state.inline_reads.as_ref();
            crate::db::assets::list(&state.pool, inline, account, &filter, offset, limit).await?
        }
    };
    let data = records
        .into_iter()
        .map(|r| AssetView::new(r, &state.signer, &base))
        .collect();
    Ok(Json(paging.page_of(data, total)))
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
            ["video", "audio", "image", "", ""]
        );
    }
}
