use serde_json::{Map, Value};

use super::Invalid;

/// Client-defined labels: a JSON object whose values are strings, numbers,
/// booleans, null or arrays of strings (the platform's rule).
#[derive(Debug, Clone, PartialEq)]
pub struct UserMetadata(Map<String, Value>);

impl UserMetadata {
    /// Bounds what one asset may carry; it is stored and returned with every read.
    pub const MAX_BYTES: usize = 16 * 1024;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() > Self::MAX_BYTES {
            return Err(Invalid::new(format!(
                "it must be at most {} bytes of JSON",
                Self::MAX_BYTES
            )));
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| Invalid::new(format!("it must be a JSON object ({e})")))?;
        let Value::Object(map) = value else {
            return Err(Invalid::new("it must be a JSON object"));
        };
        for (key, value) in &map {
            let allowed = match value {
                Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
                Value::Array(items) => items.iter().all(Value::is_string),
                Value::Object(_) => false,
            };
            if !allowed {
                return Err(Invalid::new(format!(
                    "the value of '{key}' must be a string, a number, a boolean or an array of strings"
                )));
            }
        }
        Ok(Self(map))
    }

    pub fn into_inner(self) -> Map<String, Value> {
        self.0
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_flat_objects_only() {
        assert!(
            UserMetadata::parse(r#"{"a":"b","n":1,"t":true,"tags":["x","y"],"z":null}"#).is_ok()
        );
        assert!(UserMetadata::parse("[1,2]").is_err());
        assert!(UserMetadata::parse(r#"{"a":{"b":1}}"#).is_err());
        assert!(UserMetadata::parse(r#"{"a":[1]}"#).is_err());
        assert!(UserMetadata::parse("not json").is_err());
    }
}
