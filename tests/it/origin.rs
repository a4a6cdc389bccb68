//! A real local HTTP server standing in for the outside world of `method=url`.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub struct Origin {
    pub base: String,
    _server: tokio::task::JoinHandle<()>,
}

/// Serves `/files/NAME` from `dir`, `/redirect/N/NAME` (N hops, then the file),
/// `/loop` (redirects forever) and `/missing` (404).
pub async fn start(dir: PathBuf) -> Origin {
    let app = Router::new()
        .route("/files/{name}", get(file))
        .route("/redirect/{hops}/{name}", get(redirect))
        .route(
            "/loop",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Origin {
        base,
        _server: server,
    }
}

async fn file(State(dir): State<PathBuf>, Path(name): Path<String>) -> Response {
    match tokio::fs::read(dir.join(&name)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn redirect(Path((hops, name)): Path<(u32, String)>) -> Response {
    let location = if hops <= 1 {
        format!("/files/{name}")
    } else {
        format!("/redirect/{}/{name}", hops - 1)
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
