//! The baseline of `scripts/bench-read`: an axum hello-world that answers
//! `GET /` with a fixed JSON body of the size given (the size of the assetd
//! answer it is compared with), on 127.0.0.1, printing `listening on URL`.
//!
//!   cargo run --release --example hello_json -- BYTES

use axum::http::header;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let size: usize = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: hello_json BYTES"))?
        .parse()?;
    // {"hello":"xxx…"}: valid JSON of exactly `size` bytes (at least 12).
    let body = format!("{{\"hello\":\"{}\"}}", "x".repeat(size.saturating_sub(12)));
    let app = Router::new().route(
        "/",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
