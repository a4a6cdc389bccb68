//! Paged lists, shared by every list endpoint: `page` and `page_limit` in,
//! `{"data": [...], "page_info": {...}}` out.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extractors::Query;
use crate::domain::{Page, PageLimit};

/// `page` and `page_limit` as they arrive, documented as what they must be;
/// [`Paging`] (the extractor) checks them so each error names its parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000, default = 1)]
    page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50, default = 10)]
    page_limit: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<PageQuery>::from_request_parts(parts, state).await?;
        Self::parse(query.page.as_deref(), query.page_limit.as_deref())
    }
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: Page,
    pub limit: PageLimit,
}

impl Paging {
    /// From the raw query values; an error names the parameter.
    pub fn parse(page: Option<&str>, limit: Option<&str>) -> Result<Self, ApiError> {
        Ok(Self {
            page: page
                .map_or(Ok(Page::default()), Page::parse)
                .map_err(|e| ApiError::invalid("page", e.0))?,
            limit: limit
                .map_or(Ok(PageLimit::default()), PageLimit::parse)
                .map_err(|e| ApiError::invalid("page_limit", e.0))?,
        })
    }

    pub fn offset(self) -> u64 {
        self.limit.offset(self.page)
    }

    /// One page of items and the counts around it.
    pub fn page_of<T: Serialize>(self, data: Vec<T>, total: u64) -> ListView<T> {
        ListView {
            data,
            page_info: PageInfo {
                page: self.page.get(),
                limit_per_page: self.limit.get(),
                total_page: self.limit.pages_for(total),
                total_results: total,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PageInfo {
    page: u32,
    limit_per_page: u32,
    total_page: u64,
    total_results: u64,
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct ListView<T: Serialize> {
    pub data: Vec<T>,
    pub page_info: PageInfo,
}

/// The order of a list, as sent; read by [`by_updated`] and [`descending`].
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SortQuery {
    #[param(inline, value_type = Option<SortBy>)]
    pub sort_by: Option<String>,
    #[param(inline, value_type = Option<SortOption>)]
    pub sort_option: Option<String>,
}

/// What a list is ordered by.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case", default = "created_at")]
#[allow(dead_code)]
pub enum SortBy {
    CreatedAt,
    UpdatedAt,
}

/// Which way a list is ordered.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase", default = "desc")]
#[allow(dead_code)]
pub enum SortOption {
    Desc,
    Asc,
}

/// `sort_by`: `created_at` (the default) or `updated_at`.
pub fn by_updated(sort_by: Option<&str>) -> Result<bool, ApiError> {
    match sort_by {
        None | Some("created_at") => Ok(false),
        Some("updated_at") => Ok(true),
        Some(other) => Err(ApiError::ParameterUnknown {
            name: "sort_by",
            value: other.to_string(),
            expected: "created_at, updated_at",
        }),
    }
}

/// `sort_option`: `desc` (the default) or `asc`.
pub fn descending(sort_option: Option<&str>) -> Result<bool, ApiError> {
    match sort_option {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(other) => Err(ApiError::ParameterUnknown {
            name: "sort_option",
            value: other.to_string(),
            expected: "asc, desc",
        }),
    }
}
