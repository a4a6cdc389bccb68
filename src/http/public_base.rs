//! The base of the absolute URLs an answer hands out (media URLs today).
//! `--public-url` wins. Without it the base comes from the request itself:
//! its `Host`, or, only behind a proxy the operator said to trust
//! (`--trust-proxy`), `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host`.
//! A server bound to `0.0.0.0` so hands out URLs its clients can open.

use std::cell::RefCell;

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

thread_local! {
    /// The last scheme and host this thread made a base of, and that base: a
    /// server answers to one or a few names, and parsing one was 7,000 of
    /// the 105,400 instructions of a `GET /v1.3/assets/{id}`
    /// (`scripts/bench-read-instructions`).
    static LAST_BASE: RefCell<Option<(String, String, Url)>> = const { RefCell::new(None) };
}

/// `scheme://host/` when `host` is a bare host with an optional port (no
/// path, user or anything else a client could smuggle into our URLs).
fn base_url(scheme: &str, host: &str) -> Option<Url> {
    LAST_BASE.with_borrow_mut(|last| {
        if let Some((last_scheme, last_host, url)) = last.as_ref() {
            if last_scheme == scheme && last_host == host {
                return Some(url.clone());
            }
        }
        let url = parse_base_url(scheme, host)?;
        *last = Some((scheme.to_owned(), host.to_owned(), url.clone()));
        Some(url)
    })
}

fn parse_base_url(scheme: &str, host: &str) -> Option<Url> {
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
    fn each_scheme_and_host_gets_its_own_base() {
        // The thread keeps the last base it made: a different scheme or host,
        // or a bad host after a good one, must not be answered from it.
        for _ in 0..2 {
            for (scheme, host, want) in [
                ("http", "a.example", Some("http://a.example/")),
                ("http", "a.example", Some("http://a.example/")),
                ("https", "a.example", Some("https://a.example/")),
                ("https", "a.example:8443", Some("https://a.example:8443/")),
                ("https", "a.example:8443/x", None),
                ("http", "b.example", Some("http://b.example/")),
            ] {
                let got = base_url(scheme, host);
                assert_eq!(got.as_ref().map(Url::as_str), want, "{scheme}://{host}");
            }
        }
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
