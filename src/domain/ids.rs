use std::fmt;

use uuid::Uuid;

use super::Invalid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        /// 32 hexadecimal digits (also taken hyphenated, in either case).
        #[schema(value_type = String, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
        pub struct $name(Uuid);

        impl $name {
            /// A new id; UUIDv7, so ids sort by creation time.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Accepts the 32-hex-digit form this server hands out (and, leniently, the hyphenated one).
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                if raw.len() != 32 && raw.len() != 36 {
                    return Err(Invalid::new("it must be a 32-character hexadecimal id"));
                }
                Uuid::try_parse(raw)
                    .map(Self)
                    .map_err(|_| Invalid::new("it must be a 32-character hexadecimal id"))
            }

            /// The wire and database form: 32 lowercase hex digits.
            pub fn as_string(&self) -> String {
                self.0.simple().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.simple())
            }
        }
    };
}

uuid_id!(
    /// An asset's id, as the API shows it in `_id`.
    AssetId
);
uuid_id!(
    /// An account: the owner of keys and assets.
    AccountId
);
uuid_id!(
    /// An API key's id (the key itself is never stored).
    KeyId
);
uuid_id!(
    /// An index: a named collection of references to assets.
    IndexId
);
uuid_id!(
    /// An indexed asset: one index's reference to one asset.
    IndexedAssetId
);

impl AssetId {
    /// Two hex digits that spread asset folders over 256 shards. Taken from the
    /// random tail of the UUIDv7, not its timestamp head, so shards fill evenly.
    pub fn shard(&self) -> String {
        let s = self.as_string();
        s[s.len() - 2..].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let id = AssetId::new();
        assert_eq!(AssetId::parse(&id.as_string()).unwrap(), id);
        assert_eq!(id.as_string().len(), 32);
        assert!(AssetId::parse("../../etc/passwd").is_err());
        assert!(AssetId::parse("").is_err());
        assert!(AssetId::parse("zz000000000000000000000000000000").is_err());
    }

    #[test]
    fn shard_is_two_hex_digits_from_the_tail() {
        let id = AssetId::new();
        let shard = id.shard();
        assert_eq!(shard.len(), 2);
        assert!(id.as_string().ends_with(&shard));
    }
}
