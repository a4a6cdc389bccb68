use super::Invalid;

/// A 1-based page number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page(u32);

impl Page {
    /// Far beyond any real listing, low enough that `offset` cannot overflow.
    const MAX: u32 = 1_000_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Invalid::new(format!(
                "it must be a whole number between 1 and {}",
                Self::MAX
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Page {
    fn default() -> Self {
        Self(1)
    }
}

/// How many items a page holds: 1 to 50, 10 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    pub const MAX: u32 = 50;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Invalid::new(format!(
                "it must be between 1 and {}",
                Self::MAX
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// Rows to skip to reach `page`.
    pub fn offset(self, page: Page) -> u64 {
        u64::from(page.get() - 1) * u64::from(self.0)
    }

    /// Pages needed for `total` items.
    pub fn pages_for(self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.0))
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_and_limit_bounds() {
        assert!(Page::parse("0").is_err());
        assert!(Page::parse("abc").is_err());
        assert!(Page::parse("-1").is_err());
        assert_eq!(Page::parse("3").unwrap().get(), 3);
        assert!(PageLimit::parse("51").is_err());
        assert!(PageLimit::parse("0").is_err());
        assert_eq!(PageLimit::parse("50").unwrap().get(), 50);
    }

    #[test]
    fn offsets_and_page_counts() {
        let limit = PageLimit::parse("10").unwrap();
        assert_eq!(limit.offset(Page::parse("1").unwrap()), 0);
        assert_eq!(limit.offset(Page::parse("3").unwrap()), 20);
        assert_eq!(limit.pages_for(0), 0);
        assert_eq!(limit.pages_for(10), 1);
        assert_eq!(limit.pages_for(25), 3);
    }
}
