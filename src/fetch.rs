//! `method=url`: download a remote file into an upload, streaming, with a time
//! limit, the upload size limit, at most five redirects, and (unless allowed)
//! no request to loopback, private, link-local or multicast addresses. That
//! check runs at every hop, on the addresses DNS returned, which are the ones
//! connected to, so a name that resolves (or later re-resolves) inside the
//! network cannot get through.

use crate::stats::{UploadInFlight, UploadMethod};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::storage::{Upload, UploadError, UploadWriter};

const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be parsed: the client's mistake.
    #[error("{0}")]
    InvalidUrl(String),
    /// A refused scheme or address.
    #[error("{0}")]
    NotAllowed(String),
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The origin failed us: error status, unreachable, too slow, too many redirects.
    #[error("{0}")]
    Remote(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<UploadError> for FetchError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::TooLarge { limit } => Self::TooLarge { limit },
            UploadError::Io(e) => Self::Io(e),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UrlFetcher {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

/// The resolver's refusal; found again in reqwest's error chain to tell it apart.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses that are not allowed")]
struct AddressRefused {
    host: String,
}

struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if usable.is_empty() {
                return Err(
                    Box::new(AddressRefused { host }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

impl UrlFetcher {
    pub fn new(allow_private: bool, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("assetd/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the target itself, around the address check.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            client,
            allow_private,
            timeout,
        })
    }

    /// Parses and checks a URL the client sent, before anything is fetched.
    /// POSTs a JSON `body` to `raw_url` with the same guard as downloads (no
    /// private address unless allowed, checked for every address a name
    /// resolves to), no redirect followed, within `timeout`: the answer's status.
    pub async fn post_json(
        &self,
        raw_url: &str,
        body: String,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        let url = self.parse(raw_url)?;
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(classify)?;
        Ok(response.status().as_u16())
    }

    pub fn parse(&self, raw: &str) -> Result<Url, FetchError> {
        let url = Url::parse(raw.trim())
            .map_err(|e| FetchError::InvalidUrl(format!("it is not a valid URL ({e})")))?;
        self.check(&url)?;
        Ok(url)
    }

    fn check(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::NotAllowed(format!(
                "The URL scheme '{}' is not allowed: use http or https.",
                url.scheme()
            )));
        }
        let literal = match url.host() {
            None => return Err(FetchError::InvalidUrl("it has no host".into())),
            Some(Host::Domain(_)) => None,
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        };
        if let Some(ip) = literal {
            if !self.allow_private && !is_public(ip) {
                return Err(FetchError::NotAllowed(format!(
                    "The URL points at {ip}, a loopback, private, link-local or multicast address, which this server does not fetch from."
                )));
            }
        }
        Ok(())
    }

    /// Requests `url` (from byte `from` when above 0), following redirects and
    /// checking every hop, and returns the answer ready to stream. The time
    /// limit covers this and the whole body.
    pub async fn open(&self, url: Url, from: u64) -> Result<Download, FetchError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.follow(url, from)).await {
            Ok(Ok((response, final_url))) => Ok(Download {
                response,
                final_url,
                deadline,
                timeout: self.timeout,
                _in_flight: UploadInFlight::start(UploadMethod::Url),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timed_out(self.timeout)),
        }
    }

    async fn follow(
        &self,
        mut url: Url,
        from: u64,
    ) -> Result<(reqwest::Response, Url), FetchError> {
        let mut redirects = 0;
        loop {
            self.check(&url)?;
            let mut request = self.client.get(url.clone());
            if from > 0 {
                request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
            }
            let response = request.send().await.map_err(classify)?;
            let status = response.status();
            if !status.is_redirection() {
                if !status.is_success() {
                    return Err(FetchError::Remote(format!(
                        "the server answered HTTP {status}"
                    )));
                }
                return Ok((response, url));
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(FetchError::Remote(format!(
                    "the URL redirected more than {MAX_REDIRECTS} times"
                )));
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| FetchError::Remote("a redirect had no Location header".into()))?;
            url = url
                .join(location)
                .map_err(|_| FetchError::Remote("a redirect pointed at an invalid URL".into()))?;
        }
    }
}

fn timed_out(limit: Duration) -> FetchError {
    FetchError::Remote(format!(
        "the download did not finish within {} s",
        limit.as_secs()
    ))
}

/// An origin's answer after redirects, streaming under the fetch's time limit.
pub struct Download {
    response: reqwest::Response,
    pub final_url: Url,
    deadline: tokio::time::Instant,
    timeout: Duration,
    _in_flight: UploadInFlight,
}

impl Download {
    /// The length of what this answer will send (the rest, for a range).
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// Whether this answers a request from byte `from` with exactly that range
    /// (a 206 starting there), so that the bytes before it can be kept.
    pub fn resumes_at(&self, from: u64) -> bool {
        from > 0
            && self.response.status() == reqwest::StatusCode::PARTIAL_CONTENT
            && self.starts_at() == Some(from)
    }

    /// Streams the rest of the body into `writer`; the writer enforces the size
    /// limit, up front when the origin declares a length.
    pub async fn save(mut self, mut writer: UploadWriter) -> Result<Upload, FetchError> {
        if let Some(length) = self.content_length() {
            writer.ensure_fits(length)?;
        }
        loop {
            match self.chunk().await {
                Ok(Some(chunk)) => writer.write(chunk).await?,
                Ok(None) => return Ok(writer.finish().await?),
                Err(e) => {
                    // What arrived is on disk before the next attempt looks at it.
                    writer.abandon().await;
                    return Err(e);
                }
            }
        }
    }

    /// The first `n` bytes of the body (fewer when it is shorter).
    pub async fn head(&mut self, n: usize) -> Result<Vec<u8>, FetchError> {
        let mut head = Vec::with_capacity(n);
        while head.len() < n {
            match self.chunk().await? {
                Some(chunk) => head.extend_from_slice(&chunk[..chunk.len().min(n - head.len())]),
                None => break,
            }
        }
        Ok(head)
    }

    /// Where a 206 answer's range starts (`Content-Range: bytes START-END/TOTAL`).
    fn starts_at(&self) -> Option<u64> {
        let range = self
            .response
            .headers()
            .get(reqwest::header::CONTENT_RANGE)?
            .to_str()
            .ok()?;
        range
            .strip_prefix("bytes ")?
            .split('-')
            .next()?
            .parse()
            .ok()
    }

    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, FetchError> {
        match tokio::time::timeout_at(self.deadline, self.response.chunk()).await {
            Ok(result) => {
                let chunk = result.map_err(classify)?;
                if let Some(chunk) = &chunk {
                    UploadMethod::Url.received(chunk.len());
                }
                Ok(chunk)
            }
            Err(_) => Err(timed_out(self.timeout)),
        }
    }
}

fn classify(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<AddressRefused>() {
            return FetchError::NotAllowed(format!(
                "The URL's host {} resolves only to loopback, private, link-local or multicast addresses, which this server does not fetch from.",
                refused.host
            ));
        }
        source = e.source();
    }
    if error.is_timeout() {
        FetchError::Remote("the server did not answer in time".into())
    } else if error.is_connect() {
        FetchError::Remote("the server could not be reached".into())
    } else {
        FetchError::Remote("the download failed before it was complete".into())
    }
}

/// Whether an address is on the public internet (not loopback, private,
/// link-local, multicast, shared, reserved or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            // NAT64 (64:ff9b::/96) embeds an IPv4 address.
            let seg = v6.segments();
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6 == Ipv6Addr::from(0u128))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || o[0] == 0
        // 100.64.0.0/10, carrier-grade NAT
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // 240.0.0.0/4, reserved
        || o[0] >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(
                !is_public(private.parse().unwrap()),
                "{private} must be refused"
            );
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(
                is_public(public.parse().unwrap()),
                "{public} must be allowed"
            );
        }
    }

    #[test]
    fn refuses_schemes_and_literal_private_hosts() {
        let fetcher = UrlFetcher::new(false, Duration::from_secs(5)).unwrap();
        assert!(matches!(
            fetcher.parse("ftp://example.com/a.mp4"),
            Err(FetchError::NotAllowed(_))
        ));
        assert!(matches!(
            fetcher.parse("file:///etc/passwd"),
            Err(FetchError::NotAllowed(_))
        ));
        assert!(matches!(
            fetcher.parse("http://127.0.0.1/a.mp4"),
            Err(FetchError::NotAllowed(_))
        ));
        assert!(matches!(
            fetcher.parse("http://[::1]/a.mp4"),
            Err(FetchError::NotAllowed(_))
        ));
        assert!(matches!(
            fetcher.parse("not a url"),
            Err(FetchError::InvalidUrl(_))
        ));
        assert!(fetcher.parse("https://example.com/a.mp4").is_ok());
        let open = UrlFetcher::new(true, Duration::from_secs(5)).unwrap();
        assert!(open.parse("http://127.0.0.1/a.mp4").is_ok());
    }
}
