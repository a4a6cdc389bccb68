//! The HTTP layer: one module per resource, merged here with the shared layers.

mod assets;
mod auth;
mod error;
mod extractors;
mod health;
mod indexed_filter;
mod indexes;
mod media;
mod metrics;
mod multipart;
mod paging;
mod public_base;
mod rate_limit;
mod webhooks;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, Uri};
use axum::response::Response;
use axum::{middleware, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

pub use crate::app::AppState;
use crate::config::CorsOrigin;
use error::ApiError;

pub fn router(state: AppState) -> Router {
    let resources = if state.config.no_api {
        Router::new()
    } else {
        resources(&state)
    };
    // Beside the API unless it has an address of its own (`metrics_router`).
    let scrape = if state.config.metrics_bind.is_none() {
        metrics::router()
    } else {
        Router::new()
    };
    Router::new()
        .merge(resources)
        .merge(health::router())
        .merge(scrape)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(
            error::add_request_id_to_internal_errors,
        ))
        .layer(middleware::from_fn(metrics::count_requests))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %request_id,
                        account = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(|response: &Response, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_ms = (latency.as_secs_f64() * 10_000.0).round() / 10.0,
                        "request finished"
                    );
                })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// `GET /metrics` alone, for `--metrics-bind`: an address operators may keep
/// off the public network.
pub fn metrics_router(state: AppState) -> Router {
    metrics::router()
        .fallback(route_not_found)
        .with_state(state)
}

/// The API under /v1.3 and the media files under /media: what a worker node
/// (`--no-api`) does not serve.
fn resources(state: &AppState) -> Router<AppState> {
    let limiter = rate_limit::CreateLimiter::new(
        state.config.rate_limit_per_minute,
        state.config.rate_limit_burst,
        &state.pool,
    );
    let api = assets::router(state, limiter)
        .merge(indexes::router())
        .merge(multipart::router())
        .merge(webhooks::router());
    // Closed to browsers unless origins are configured: without a CORS layer a
    // preflight gets the usual 405 and no page on another origin may read a response.
    let api = match api_cors(&state.config.cors_origins) {
        Some(cors) => with_cors(api, cors),
        None => api,
    };
    Router::new()
        .nest("/v1.3", api)
        .merge(with_cors(media::router(), media::cors()))
        .merge(multipart::chunk_router())
}

/// tower-http's layer, so the CORS rules (preflight answers, `Vary`, origin
/// matching) are the library's, not ours. The 405 fallback is set inside the
/// layer: the outer router's would replace the wrapped one, and an unrouted
/// OPTIONS (a preflight) would then never reach the layer.
fn with_cors(router: Router<AppState>, cors: CorsLayer) -> Router<AppState> {
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors)
}

/// Exactly the configured origins; None (no layer) when there are none.
fn api_cors(origins: &[CorsOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins = origins.iter().map(|origin| {
        HeaderValue::from_str(origin.as_str()).expect("a parsed origin is a valid header value")
    });
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([HeaderName::from_static("x-api-key"), header::CONTENT_TYPE])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderName::from_static("x-ratelimit-reset"),
                header::RETRY_AFTER,
            ]),
    )
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
