use serde::{Deserialize, Serialize};

/// Why media work failed, with a message a user can act on (never a server path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    pub kind: MediaErrorKind,
    pub message: String,
}

/// Whose fault a [`MediaError`] is, which decides whether it is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaErrorKind {
    /// Not video, audio or an image we can handle at all.
    Unsupported,
    /// Looks like media but is corrupt, truncated or unreadable; retrying will not help.
    InvalidInput,
    /// Our side failed (I/O, memory); may be retried.
    System,
}

impl MediaError {
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(MediaErrorKind::Unsupported, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(MediaErrorKind::InvalidInput, message)
    }

    pub fn system(message: impl Into<String>) -> Self {
        Self::new(MediaErrorKind::System, message)
    }

    pub fn new(kind: MediaErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An I/O error while reading the input file. `std::io::Error` carries no path, so its
    /// text is safe to show.
    pub(crate) fn io(err: &std::io::Error) -> Self {
        Self::system(format!("The file could not be read: {err}."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_app_expects() {
        let err = MediaError::invalid_input("The file is truncated.");
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"invalid_input","message":"The file is truncated."}"#
        );
        assert_eq!(serde_json::from_str::<MediaError>(&json).unwrap(), err);
        assert_eq!(err.to_string(), "The file is truncated.");
    }
}
