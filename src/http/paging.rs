//! Paged lists, shared by every list endpoint: `page` and `page_limit` in,
//! `{"data": [...], "page_info": {...}}` out.

use serde::Serialize;

use super::error::ApiError;
use crate::domain::{Page, PageLimit};

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

#[derive(Serialize)]
pub struct PageInfo {
    page: u32,
    limit_per_page: u32,
    total_page: u64,
    total_results: u64,
}

#[derive(Serialize)]
pub struct ListView<T: Serialize> {
    data: Vec<T>,
    page_info: PageInfo,
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
