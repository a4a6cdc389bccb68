//! Stored times are Unix milliseconds (UTC); on the wire they are RFC 3339.

use std::fmt;

use serde::{Serialize, Serializer};

/// A point in time, to the millisecond. Serialises as RFC 3339 in UTC with
/// whole seconds (`2026-11-25T10:02:05Z`), as the platform sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-11-25T10:02:05Z")]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self((time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// An RFC 3339 time as a client sends it (`2026-11-25T10:02:05Z`).
    pub fn parse_rfc3339(raw: &str) -> Result<Self, super::Invalid> {
        let time = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                super::Invalid::new("it must be an RFC 3339 time, e.g. 2026-11-25T10:02:05Z")
            })?;
        Ok(Self((time.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let text = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&format).ok())
            .unwrap_or_default();
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            serde_json::to_string(&Timestamp::from_millis(1_795_600_925_999)).unwrap(),
            "\"2026-11-25T10:02:05Z\""
        );
    }
}
