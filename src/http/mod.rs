//! The HTTP layer: one module per resource, merged here with the shared layers.

mod assets;
mod auth;
mod error;
mod extractors;
mod health;
mod indexes;
mod media;
mod paging;
mod public_base;
mod rate_limit;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::response::Response;
use axum::{middleware, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

pub use crate::app::AppState;
use error::ApiError;

pub fn router(state: AppState) -> Router {
    let limiter = rate_limit::CreateLimiter::new(
        state.config.rate_limit_per_minute,
        state.config.rate_limit_burst,
    );
    Router::new()
        .nest(
            "/v1.3",
            assets::router(&state, limiter).merge(indexes::router()),
        )
        .merge(health::router())
        .merge(media::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(
            error::add_request_id_to_internal_errors,
        ))
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

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
