//! Signed, expiring media URLs. Players cannot send `x-api-key`, so the URL
//! itself carries the permission: `media/<asset>/<expires>/<signature>/<file>`.
//! The signature covers the asset and the expiry, not the file, so that the
//! relative segment URIs inside a playlist work under the same prefix.

use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use url::Url;

use crate::domain::AssetId;

type HmacSha256 = Hmac<Sha256>;

/// Hex digits of the signature in a URL (128 bits).
const SIGNATURE_HEX: usize = 32;
/// Expiries are rounded up to this, so that a URL stays the same (and cacheable)
/// across the reads of one hour.
const EXPIRY_STEP_SECS: i64 = 3600;

#[derive(Clone)]
pub struct UrlSigner {
    /// The HMAC with the server's key already taken in (its two key blocks
    /// are hashed once, not for every URL).
    keyed: HmacSha256,
    ttl: Duration,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("This media URL has expired; retrieve the asset again for a fresh one.")]
    Expired,
    #[error("This media URL is not valid.")]
    BadSignature,
}

impl UrlSigner {
    pub fn new(key: [u8; 32], ttl: Duration) -> Self {
        Self {
            keyed: HmacSha256::new_from_slice(&key).expect("HMAC takes any key length"),
            ttl,
        }
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(message.as_bytes());
        mac
    }

    fn signature(&self, asset: AssetId, expires: i64) -> HmacSha256 {
        self.mac(&format!("{asset}:{expires}"))
    }

    /// The message of a chunk URL: its own prefix, so that no media signature
    /// can stand for one.
    fn chunk_signature(&self, upload: &str, index: u64, expires: i64) -> HmacSha256 {
        self.mac(&format!("chunk:{upload}:{index}:{expires}"))
    }

    /// The URL a client PUTs chunk `index` (1-based) of multipart upload
    /// `upload` to, valid until `expires` (Unix seconds); no API key needed.
    pub fn chunk_url(&self, base: &Url, upload: &str, index: u64, expires: i64) -> String {
        let signature = hex::encode(
            self.chunk_signature(upload, index, expires)
                .finalize()
                .into_bytes(),
        );
        let path = format!(
            "uploads/{upload}/{index}/{expires}/{}",
            &signature[..SIGNATURE_HEX]
        );
        absolute(base, &path)
    }

    pub fn verify_chunk(
        &self,
        upload: &str,
        index: u64,
        expires: i64,
        signature: &str,
        now_secs: i64,
    ) -> Result<(), Denied> {
        check(
            self.chunk_signature(upload, index, expires),
            signature,
            expires,
            now_secs,
        )
    }

    /// What every signed URL of an asset's files starts with, up to and
    /// including the `/` before the file (`thumb.jpg`, `hls/master.m3u8`):
    /// one signature serves them all. Absolute, under `base` (the server's
    /// public URL, e.g. `http://media.example:8080/`).
    pub fn media_prefix(&self, base: &Url, asset: AssetId, now_secs: i64) -> String {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 4);
        // A short TTL (tests, strict operators) is not stretched by the rounding.
        let step = EXPIRY_STEP_SECS.min(ttl).max(1);
        let expires = (now_secs + ttl + step - 1) / step * step;
        let signature = hex::encode(self.signature(asset, expires).finalize().into_bytes());
        let path = format!("media/{asset}/{expires}/{}/", &signature[..SIGNATURE_HEX]);
        absolute(base, &path)
    }

    pub fn verify(
        &self,
        asset: AssetId,
        expires: i64,
        signature: &str,
        now_secs: i64,
    ) -> Result<(), Denied> {
        check(self.signature(asset, expires), signature, expires, now_secs)
    }
}

/// `path` under `base` (which may have a path of its own). The paths made
/// here hold only characters a URL takes as they are (hex, digits, `/`, `.`),
/// so a base without a query or fragment is extended as text, without parsing.
fn absolute(base: &Url, path: &str) -> String {
    if base.query().is_none() && base.fragment().is_none() {
        let mut url = String::from(base.as_str());
        if !url.ends_with('/') {
            url.push('/');
        }
        url.push_str(path);
        return url;
    }
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path)
        .map(String::from)
        .unwrap_or_else(|_| path.to_string())
}

/// Whether `signature` (hex, truncated) is `mac`'s, and `expires` not past.
fn check(mac: HmacSha256, signature: &str, expires: i64, now_secs: i64) -> Result<(), Denied> {
    let given = hex::decode(signature).map_err(|_| Denied::BadSignature)?;
    if given.len() * 2 != SIGNATURE_HEX {
        return Err(Denied::BadSignature);
    }
    mac.verify_truncated_left(&given)
        .map_err(|_| Denied::BadSignature)?;
    if expires < now_secs {
        return Err(Denied::Expired);
    }
    Ok(())
}

/// A signing key as it is configured and stored: 64 hex digits.
pub fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("not 64 hex digits (32 bytes)"))
}

/// A fresh random signing key, as 64 hex digits.
pub fn generate_key() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    hex::encode(key)
}

pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signed URL of an asset's `file`, as the asset view makes it.
    fn url(s: &UrlSigner, base: &Url, asset: AssetId, file: &str, now: i64) -> String {
        s.media_prefix(base, asset, now) + file
    }

    fn signer() -> UrlSigner {
        UrlSigner::new([7; 32], Duration::from_secs(86_400))
    }

    fn base() -> Url {
        Url::parse("http://media.example:8080/base").unwrap()
    }

    fn parts(url: &str) -> (i64, String) {
        let rest = url.split("/media/").nth(1).unwrap();
        let fields: Vec<&str> = rest.split('/').collect();
        (fields[1].parse().unwrap(), fields[2].to_string())
    }

    #[test]
    fn signed_urls_verify_and_expire() {
        let s = signer();
        let id = AssetId::new();
        let now = 1_800_000_000;
        let url = url(&s, &base(), id, "hls/master.m3u8", now);
        assert!(
            url.starts_with("http://media.example:8080/base/media/"),
            "{url}"
        );
        assert!(url.ends_with("/hls/master.m3u8"));
        let (expires, sig) = parts(&url);
        assert!(expires >= now + 86_400 && expires < now + 86_400 + 3600);
        assert_eq!(s.verify(id, expires, &sig, now), Ok(()));
        assert_eq!(
            s.verify(id, expires, &sig, expires + 1),
            Err(Denied::Expired)
        );
        // Tampering with any part breaks it.
        assert_eq!(
            s.verify(id, expires + 3600, &sig, now),
            Err(Denied::BadSignature)
        );
        assert_eq!(
            s.verify(AssetId::new(), expires, &sig, now),
            Err(Denied::BadSignature)
        );
        let mut flipped = sig.clone();
        flipped.replace_range(0..1, if &sig[0..1] == "0" { "1" } else { "0" });
        assert_eq!(
            s.verify(id, expires, &flipped, now),
            Err(Denied::BadSignature)
        );
        assert_eq!(s.verify(id, expires, "zz", now), Err(Denied::BadSignature));
        // Another server secret does not accept it.
        let other = UrlSigner::new([8; 32], Duration::from_secs(60));
        assert_eq!(
            other.verify(id, expires, &sig, now),
            Err(Denied::BadSignature)
        );
    }

    #[test]
    fn a_url_is_its_base_joined_with_its_path() {
        let s = signer();
        let id = AssetId::new();
        for raw in [
            "http://media.example:8080/",
            "http://media.example:8080/base",
            "http://media.example:8080/base/",
            "https://[::1]:9/a/b?x=1#y",
        ] {
            let base = Url::parse(raw).unwrap();
            let mut joined = base.clone();
            if !joined.path().ends_with('/') {
                joined.set_path(&format!("{}/", joined.path()));
            }
            let url = url(&s, &base, id, "hls/master.m3u8", 1_800_000_000);
            let path = url.split("/media/").nth(1).unwrap();
            assert_eq!(url, joined.join(&format!("media/{path}")).unwrap().as_str());
        }
    }

    #[test]
    fn urls_are_stable_within_an_hour() {
        let s = signer();
        let id = AssetId::new();
        let t = 1_800_000_000 + 10; // 1_800_000_000 is a whole hour
        assert_eq!(
            url(&s, &base(), id, "thumb.jpg", t),
            url(&s, &base(), id, "thumb.jpg", t + 60)
        );
    }

    #[test]
    fn a_generated_key_parses_and_a_short_or_non_hex_one_does_not() {
        assert!(parse_key(&generate_key()).is_ok());
        assert_ne!(generate_key(), generate_key());
        assert!(parse_key("abcd").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }
}
