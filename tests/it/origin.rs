//! A real local HTTP server standing in for the outside world of `method=url`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeDir;

pub struct Origin {
    pub base: String,
    state: OriginState,
    _server: tokio::task::JoinHandle<()>,
}

/// A request the origin saw: its path and its Range header.
type Logged = (String, Option<String>);

#[derive(Clone)]
struct OriginState {
    dir: PathBuf,
    log: Arc<Mutex<Vec<Logged>>>,
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

impl OriginState {
    fn record(&self, request: &Request) -> u32 {
        let path = request.uri().path().to_string();
        let range = request
            .headers()
            .get(header::RANGE)
            .map(|v| v.to_str().unwrap().to_string());
        self.log.lock().unwrap().push((path.clone(), range));
        let mut hits = self.hits.lock().unwrap();
        let n = hits.entry(path).or_default();
        *n += 1;
        *n
    }
}

impl Origin {
    /// Requests made so far to `path`, with their Range headers.
    pub fn requests_to(&self, path: &str) -> Vec<Option<String>> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

/// Serves, from `dir`:
/// - `/files/NAME` with Content-Length and Range support;
/// - `/chunked/NAME` without a length (so assetd fetches it in the background);
/// - `/flaky/NAME`: chunked, but the 2nd and 3rd requests answer 503;
/// - `/cut/NAME`: chunked with Range support, but the 2nd request breaks off halfway;
/// - `/redirect/N/NAME` (N hops, then the file), `/loop`, `/missing` (404).
pub async fn start(dir: PathBuf) -> Origin {
    let state = OriginState {
        dir,
        log: Arc::default(),
        hits: Arc::default(),
    };
    let app = Router::new()
        .route("/files/{name}", get(file))
        .route("/chunked/{name}", get(chunked))
        .route("/flaky/{name}", get(flaky))
        .route("/cut/{name}", get(cut))
        .route("/redirect/{hops}/{name}", get(redirect))
        .route(
            "/loop",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Origin {
        base,
        state,
        _server: server,
    }
}

async fn file(
    State(state): State<OriginState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    state.record(&request);
    let (mut parts, body) = request.into_parts();
    parts.uri = format!("/{name}").parse().unwrap();
    ServeDir::new(&state.dir)
        .oneshot(Request::from_parts(parts, body))
        .await
        .unwrap()
        .into_response()
}

/// The file as a stream of 4 KiB chunks with no length; `cut_at` breaks the stream there.
fn stream(bytes: Vec<u8>, from: usize, cut_at: Option<usize>) -> Body {
    use futures_util::StreamExt;
    let end = cut_at.unwrap_or(bytes.len());
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes[from..end]
        .chunks(4096)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let data = futures_util::stream::iter(chunks);
    if cut_at.is_none() {
        return Body::from_stream(data);
    }
    // The cut comes after the data has had time to reach the client.
    let cut = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Err(std::io::Error::other("connection cut"))
    });
    Body::from_stream(data.chain(cut))
}

async fn chunked(
    State(state): State<OriginState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    state.record(&request);
    match std::fs::read(state.dir.join(&name)) {
        Ok(bytes) => stream(bytes, 0, None).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn flaky(
    State(state): State<OriginState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let n = state.record(&request);
    if n == 2 || n == 3 {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    stream(std::fs::read(state.dir.join(&name)).unwrap(), 0, None).into_response()
}

async fn cut(
    State(state): State<OriginState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let n = state.record(&request);
    let bytes = std::fs::read(state.dir.join(&name)).unwrap();
    let total = bytes.len();
    let from = request.headers().get(header::RANGE).and_then(|v| {
        v.to_str()
            .ok()?
            .strip_prefix("bytes=")?
            .strip_suffix('-')?
            .parse::<usize>()
            .ok()
    });
    match from {
        Some(from) => (
            StatusCode::PARTIAL_CONTENT,
            [(
                header::CONTENT_RANGE,
                format!("bytes {from}-{}/{total}", total - 1),
            )],
            stream(bytes, from, None),
        )
            .into_response(),
        None if n == 2 => stream(bytes, 0, Some(total / 2)).into_response(),
        None => stream(bytes, 0, None).into_response(),
    }
}

async fn redirect(
    State(state): State<OriginState>,
    Path((hops, name)): Path<(u32, String)>,
    request: Request,
) -> Response {
    state.record(&request);
    let location = if hops <= 1 {
        format!("/files/{name}")
    } else {
        format!("/redirect/{}/{name}", hops - 1)
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
