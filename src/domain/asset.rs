use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;

/// What an asset is: its kind, as a multipart upload's `type` and the
/// `asset_types` filter name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    Video,
    Audio,
    Image,
}

impl AssetKind {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "video" => Ok(Self::Video),
            "audio" => Ok(Self::Audio),
            "image" => Ok(Self::Image),
            _ => Err(Invalid::new(format!(
                "'{raw}' is not one of video, audio, image"
            ))),
        }
    }

    /// A value of the `asset_types` filter. `document` is a type the platform
    /// knows and this server never stores: it is valid and matches nothing (None).
    pub fn parse_filter(raw: &str) -> Result<Option<Self>, Invalid> {
        match raw {
            "document" => Ok(None),
            other => Self::parse(other).map(Some),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Image => "image",
        }
    }
}

/// How an asset reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetMethod {
    Direct,
    Url,
    /// Made by a multipart upload session (`/assets/multipart-uploads`).
    Multipart,
}

impl AssetMethod {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "direct" => Some(Self::Direct),
            "url" => Some(Self::Url),
            "multipart" => Some(Self::Multipart),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Url => "url",
            Self::Multipart => "multipart",
        }
    }
}

/// An asset's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetStatus {
    Processing,
    Ready,
    Failed,
}

impl AssetStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "processing" => Some(Self::Processing),
            "ready" => Some(Self::Ready),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// A derived output made after an asset is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hls,
    Thumbnail,
}

/// The state of a derived output (HLS, thumbnail) that the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Pending,
    Processing,
    Ready,
    Error,
}

impl StepStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "processing" => Some(Self::Processing),
            "ready" => Some(Self::Ready),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_wire_names() {
        for kind in [AssetKind::Video, AssetKind::Audio, AssetKind::Image] {
            assert_eq!(AssetKind::parse(kind.as_str()).unwrap(), kind);
        }
        for status in [
            AssetStatus::Processing,
            AssetStatus::Ready,
            AssetStatus::Failed,
        ] {
            assert_eq!(AssetStatus::parse(status.as_str()), Some(status));
        }
        for step in [
            StepStatus::Pending,
            StepStatus::Processing,
            StepStatus::Ready,
            StepStatus::Error,
        ] {
            assert_eq!(StepStatus::parse(step.as_str()), Some(step));
        }
        assert!(AssetKind::parse("document").is_err());
        assert_eq!(AssetKind::parse_filter("document"), Ok(None));
        assert_eq!(AssetKind::parse_filter("audio"), Ok(Some(AssetKind::Audio)));
        assert!(AssetKind::parse_filter("movie").is_err());
        assert_eq!(
            AssetMethod::parse("multipart"),
            Some(AssetMethod::Multipart)
        );
        assert_eq!(AssetMethod::parse("chunked"), None);
    }
}
