//! `GET /metrics` (Prometheus text), and the middleware that counts and times
//! every request by its route's template. On `--metrics-bind` the scrape is
//! served on that address only (see `startup`), not beside the API.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::assets::{Work, DELIVERY_KIND};
use crate::stats;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// Prometheus metrics in the text exposition format.
///
/// Requests by route template, method and status, with latency histograms;
/// bytes received and uploads in flight by upload method; jobs by kind and
/// state, job run times and attempts; media-child exits by task and outcome;
/// database and storage errors; rate-limit refusals. With
/// `ASSETD_METRICS_BIND` set it is served on that address only, and this path
/// answers 404 here.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The current metrics.", body = String, content_type = "text/plain")),
)]
async fn scrape(State(state): State<AppState>) -> Response {
    match state.queue.counts().await {
        Ok(counts) => {
            let mut kinds = Work::ALL.map(Work::kind).to_vec();
            kinds.push(DELIVERY_KIND);
            stats::set_jobs(&kinds, &counts);
        }
        // The rest is still worth scraping; the error is counted.
        Err(e) => {
            stats::error(stats::ErrorSource::Database);
            tracing::warn!(error = %e, "could not count the jobs for /metrics");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        stats::recorder().render(),
    )
        .into_response()
}

/// Counts and times every request, until its response's head: by method,
/// route template (`unmatched` when no route matched) and status.
/// (Router::layer wraps each route, after routing, so the route is known.)
pub async fn count_requests(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    stats::http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// The standard methods by name; anything a client made up is `other`, so
/// that the label stays bounded.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}
