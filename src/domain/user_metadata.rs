use serde_json::{Map, Value};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use super::Invalid;

/// Client-defined labels: a JSON object whose values are strings, numbers,
/// booleans, null or arrays of strings (the platform's rule).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserMetadata(Map<String, Value>);

impl UserMetadata {
    /// Bounds what one asset may carry; it is stored and returned with every read.
    pub const MAX_BYTES: usize = 16 * 1024;
    /// Keys one asset may carry.
    pub const MAX_KEYS: usize = 100;
    /// Characters of one key (as JSON Schema's `maxLength` counts them).
    pub const MAX_KEY_CHARS: usize = 128;

    /// Metadata sent as a JSON string (the `user_metadata` form field).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() > Self::MAX_BYTES {
            return Err(too_large());
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| Invalid::new(format!("it must be a JSON object ({e})")))?;
        Self::from_value(value)
    }

    /// Metadata sent as a JSON value (the body of the user-metadata routes).
    pub fn from_value(value: Value) -> Result<Self, Invalid> {
        let Value::Object(map) = value else {
            return Err(Invalid::new("it must be a JSON object"));
        };
        for (key, value) in &map {
            if key.is_empty() || key.chars().count() > Self::MAX_KEY_CHARS {
                return Err(Invalid::new(format!(
                    "each key must be 1 to {} characters long",
                    Self::MAX_KEY_CHARS
                )));
            }
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
        let metadata = Self(map);
        metadata.check_limits()?;
        Ok(metadata)
    }

    fn check_limits(&self) -> Result<(), Invalid> {
        if self.0.len() > Self::MAX_KEYS {
            return Err(Invalid::new(format!(
                "it may have at most {} keys",
                Self::MAX_KEYS
            )));
        }
        if self.to_json().len() > Self::MAX_BYTES {
            return Err(too_large());
        }
        Ok(())
    }

    /// The metadata a PUT of `update` leaves: `update` itself, less the keys
    /// whose value is empty (`""`, `[]`) or null, which the platform ignores.
    pub fn replaced_by(update: Self) -> Self {
        Self(
            update
                .0
                .into_iter()
                .filter(|(_, value)| !is_empty_value(value) && !value.is_null())
                .collect(),
        )
    }

    /// The metadata a PATCH of `update` leaves: each key of `update` set, null
    /// removing it, an empty value (`""`, `[]`) changing nothing; other keys
    /// kept. The result must still be within the limits.
    pub fn merged_with(mut self, update: Self) -> Result<Self, Invalid> {
        for (key, value) in update.0 {
            if value.is_null() {
                self.0.remove(&key);
            } else if !is_empty_value(&value) {
                self.0.insert(key, value);
            }
        }
        self.check_limits()?;
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_inner(self) -> Map<String, Value> {
        self.0
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

fn too_large() -> Invalid {
    Invalid::new(format!(
        "it must be at most {} bytes of JSON",
        UserMetadata::MAX_BYTES
    ))
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// The rules above, for the OpenAPI document (all but the 16 KiB, which JSON
/// Schema cannot state).
impl utoipa::PartialSchema for UserMetadata {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let value = OneOfBuilder::new()
            .item(string())
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ArrayBuilder::new().items(string()))
            .item(ObjectBuilder::new().schema_type(Type::Null));
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(format!(
                "Labels: strings, numbers, booleans or arrays of strings; at most {} keys \
                 of 1-{} characters, and {} KiB as JSON.",
                Self::MAX_KEYS,
                Self::MAX_KEY_CHARS,
                Self::MAX_BYTES / 1024
            )))
            .max_properties(Some(Self::MAX_KEYS))
            .additional_properties(Some(Schema::OneOf(value.build())))
            .build();
        object.property_names = Some(Box::new(
            string()
                .min_length(Some(1))
                .max_length(Some(Self::MAX_KEY_CHARS))
                .into(),
        ));
        Schema::Object(object).into()
    }
}

impl utoipa::ToSchema for UserMetadata {}

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
        assert!(UserMetadata::parse(r#"{"":1}"#).is_err());
    }

    fn metadata(json: &str) -> UserMetadata {
        UserMetadata::parse(json).unwrap()
    }

    #[test]
    fn put_drops_empty_and_null_values_and_patch_merges() {
        let put = UserMetadata::replaced_by(metadata(r#"{"a":"x","b":"","c":[],"d":null,"e":2}"#));
        assert_eq!(put, metadata(r#"{"a":"x","e":2}"#));
        let patched = put
            .merged_with(metadata(r#"{"a":null,"e":"","f":["t"],"g":false}"#))
            .unwrap();
        assert_eq!(patched, metadata(r#"{"e":2,"f":["t"],"g":false}"#));
    }

    #[test]
    fn limits_hold_for_a_merge_too() {
        let keys: Map<String, Value> = (0..UserMetadata::MAX_KEYS)
            .map(|i| (format!("k{i}"), Value::from(i)))
            .collect();
        let full = UserMetadata::from_value(Value::Object(keys)).unwrap();
        let error = full.merged_with(metadata(r#"{"one_more":1}"#)).unwrap_err();
        assert!(error.0.contains("at most 100 keys"), "{}", error.0);
        let key = |chars: usize| format!(r#"{{"{}":1}}"#, "é".repeat(chars));
        // Characters are counted, as JSON Schema's maxLength counts them, not bytes.
        assert!(UserMetadata::parse(&key(UserMetadata::MAX_KEY_CHARS)).is_ok());
        assert!(UserMetadata::parse(&key(UserMetadata::MAX_KEY_CHARS + 1)).is_err());
    }
}
