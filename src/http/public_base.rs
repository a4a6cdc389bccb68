//! The base of the absolute URLs an answer hands out (media URLs today).
//! `--public-url` wins. Without it the base comes from the request itself:
//! its `Host`, or, only behind a proxy the operator said to trust
//! (`--trust-proxy`), `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host`.
//! A server bound to `0.0.0.0` so hands out URLs its clients can open.

use axum::extract::FromRequestParts;
use axum::http::header::{FORWARDED, HOST};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use url::Url;

use super::error::ApiError;
use super::AppState;

pub struct PublicBase(pub Url);

impl FromRequestParts<AppState> for PublicBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(url) = &state.config.public_url {
            return Ok(Self(url.clone()));
        }
        let forwarded = state
            .config
            .trust_proxy
            .then(|| from_forwarded(&parts.headers))
            .flatten();
        let base = forwarded
            .or_else(|| {
                let host = header(&parts.headers, HOST.as_str())?;
                base_url("http", host)
            })
            .unwrap_or_else(|| state.listen_url.clone());
        Ok(Self(base))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `scheme://host/` when `host` is a bare host with an optional port (no
/// path, user or anything else a client could smuggle into our URLs).
fn base_url(scheme: &str, host: &str) -> Option<Url> {
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let url = Url::parse(&format!("{scheme}://{host}/")).ok()?;
    let clean = url.host().is_some()
        && url.path() == "/"
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && !host.contains(['/', '@', '?', '#', '\\']);
    clean.then_some(url)
}

/// From a trusted proxy: RFC 7239 `Forwarded` (its first element), else the
/// `X-Forwarded-*` pair. The proxy's own `Host` is used when it forwards
/// only the scheme.
fn from_forwarded(headers: &HeaderMap) -> Option<Url> {
    let (mut proto, mut host) = (None, None);
    if let Some(value) = header(headers, FORWARDED.as_str()) {
        let first = value.split(',').next().unwrap_or_default();
        for pair in first.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "proto" => proto = Some(value),
                "host" => host = Some(value),
                _ => {}
            }
        }
    }
    let first_of = |name| {
        header(headers, name)
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let proto = proto.or_else(|| first_of("x-forwarded-proto"));
    let host = host.or_else(|| first_of("x-forwarded-host"));
    if proto.is_none() && host.is_none() {
        return None;
    }
    let host = host.or_else(|| header(headers, HOST.as_str()))?;
    base_url(&proto.unwrap_or("http").to_ascii_lowercase(), host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn hosts_are_bare_authorities() {
        assert_eq!(
            base_url("http", "media.example:8080").unwrap().as_str(),
            "http://media.example:8080/"
        );
        assert_eq!(
            base_url("http", "[::1]:9").unwrap().as_str(),
            "http://[::1]:9/"
        );
        for bad in ["evil.com/x", "a@evil.com", "evil.com?x", "", "a b"] {
            assert!(base_url("http", bad).is_none(), "{bad}");
        }
        assert!(base_url("ftp", "example.com").is_none());
    }

    #[test]
    fn forwarded_wins_over_x_forwarded() {
        let h = headers(&[
            (
                "forwarded",
                "for=1.2.3.4;proto=https;host=cdn.example, for=5.6.7.8",
            ),
            ("x-forwarded-host", "other.example"),
        ]);
        assert_eq!(from_forwarded(&h).unwrap().as_str(), "https://cdn.example/");
        let h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "a.example, b.example"),
        ]);
        assert_eq!(from_forwarded(&h).unwrap().as_str(), "https://a.example/");
        let h = headers(&[("x-forwarded-proto", "https"), ("host", "h.example:81")]);
        assert_eq!(
            from_forwarded(&h).unwrap().as_str(),
            "https://h.example:81/"
        );
        assert!(from_forwarded(&headers(&[("host", "h.example")])).is_none());
    }
}
