use super::Invalid;

/// A display name for an asset. Never used to build a path (paths come from
/// server-made ids), but still kept free of separators and control characters
/// so that it is safe to show and to hand back as a download name.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 255, pattern = "^[^/\\\\\\x00-\\x1f\\x7f-\\x9f]*$")]
pub struct Filename(String);

impl Filename {
    pub const MAX_CHARS: usize = 255;

    /// A name the client chose on purpose (the `filename` field): refused when bad.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::new("it must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(format!(
                "it must be at most {} characters long",
                Self::MAX_CHARS
            )));
        }
        if raw.contains(['/', '\\']) {
            return Err(Invalid::new(
                "it must be a plain file name without '/' or '\\'",
            ));
        }
        if raw == "." || raw == ".." {
            return Err(Invalid::new("it must be a file name, not '.' or '..'"));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid::new("it must not contain control characters"));
        }
        Ok(Self(raw.to_string()))
    }

    /// A name the client did not choose (a part's file name, a URL's last
    /// segment): made acceptable rather than refused. None when nothing is left.
    pub fn from_hint(raw: &str) -> Option<Self> {
        let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
        let cleaned: String = base
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::MAX_CHARS)
            .collect();
        let cleaned = cleaned.trim();
        Self::parse(cleaned).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form the case-insensitive filter compares against.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parse_refuses_what_a_client_should_not_send() {
        assert!(Filename::parse("cat.mp4").is_ok());
        assert!(Filename::parse("100%_real ÜBER.mp4").is_ok());
        assert!(Filename::parse("").is_err());
        assert!(Filename::parse("../etc/passwd").is_err());
        assert!(Filename::parse("a\\b.mp4").is_err());
        assert!(Filename::parse("..").is_err());
        assert!(Filename::parse("a\nb.mp4").is_err());
        assert!(Filename::parse(&"x".repeat(255)).is_ok());
        assert!(Filename::parse(&"x".repeat(256)).is_err());
        // Characters, not bytes: 255 two-byte characters are fine.
        assert!(Filename::parse(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn hints_are_cleaned_not_refused() {
        assert_eq!(
            Filename::from_hint("C:\\Users\\me\\clip.mp4")
                .unwrap()
                .as_str(),
            "clip.mp4"
        );
        assert_eq!(
            Filename::from_hint("/tmp/x/../a.mp3").unwrap().as_str(),
            "a.mp3"
        );
        assert_eq!(
            Filename::from_hint(&"y".repeat(400))
                .unwrap()
                .as_str()
                .len(),
            255
        );
        assert!(Filename::from_hint("dir/").is_none());
        assert!(Filename::from_hint("..").is_none());
    }

    #[test]
    fn folding_is_unicode_aware() {
        assert_eq!(Filename::parse("ÉTÉ.MP4").unwrap().folded(), "été.mp4");
    }
}
