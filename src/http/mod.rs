//! The HTTP layer: one module per resource, merged here with the shared layers.

mod assets;
mod auth;
mod console;
mod error;
mod extractors;
mod health;
mod indexed_filter;
mod indexes;
mod jobs;
mod media;
mod metrics;
mod multipart;
mod openapi;
mod paging;
mod public_base;
mod rate_limit;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::{middleware, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa_axum::router::OpenApiRouter;

pub use crate::app::AppState;
use crate::config::CorsOrigin;
use crate::db::read_cache::ReadCache;
use error::ApiError;

pub fn router(state: AppState) -> Router {
    let (routes, _) = routes(&Served::configured(&state)).split_for_parts();
    let mut routes = routes
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed);
    if let Some(cache) = &state.read_cache {
        routes = routes.layer(middleware::from_fn_with_state(
            cache.clone(),
            forget_reads_after_writes,
        ));
    }
    routes
        .layer(middleware::from_fn(no_nul_in_path))
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

/// What a client changed through this node, this node's next read shows:
/// a request that may have written forgets the node's kept answers before
/// it answers (other nodes hear of it from PostgreSQL, `db::read_cache`).
async fn forget_reads_after_writes(
    axum::extract::State(cache): axum::extract::State<ReadCache>,
    request: Request,
    next: middleware::Next,
) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    if writes {
        cache.forget_everything();
    }
    response
}

/// `GET /metrics` alone, for `--metrics-bind`: an address operators may keep
/// off the public network.
pub fn metrics_router(state: AppState) -> Router {
    Router::from(metrics::router())
        .fallback(route_not_found)
        .with_state(state)
}

/// The OpenAPI document: every route this server can serve, as
/// [`openapi::document`] describes it.
pub use openapi::document as openapi_document;

/// Which parts of the routes a server serves, from its configuration.
struct Served {
    /// The API and the media files; a worker node (`--no-api`) has none.
    resources: bool,
    /// The scrape beside the API, unless it has an address of its own.
    metrics: bool,
    /// None when creates are not rate-limited (and for the document).
    create_limit: Option<CreateLimit>,
    cors_origins: Vec<CorsOrigin>,
}

/// The state the rate limit of `POST /v1.3/assets` runs with.
type CreateLimit = (AppState, Arc<rate_limit::CreateLimiter>);

impl Served {
    fn configured(state: &AppState) -> Self {
        let limiter = rate_limit::CreateLimiter::new(
            state.config.rate_limit_per_minute,
            state.config.rate_limit_burst,
            &state.pool,
        );
        Self {
            resources: !state.config.no_api,
            metrics: state.config.metrics_bind.is_none(),
            create_limit: limiter.map(|limiter| (state.clone(), Arc::new(limiter))),
            cors_origins: state.config.cors_origins.clone(),
        }
    }

    /// Everything, as the OpenAPI document describes it.
    fn everything() -> Self {
        Self {
            resources: true,
            metrics: true,
            create_limit: None,
            cors_origins: Vec::new(),
        }
    }
}

/// The routes with their documentation (utoipa-axum registers each route from
/// its handler's annotation): both the router and the OpenAPI document are
/// built from here, so neither can name a route the other lacks.
fn routes(served: &Served) -> OpenApiRouter<AppState> {
    let mut routes = OpenApiRouter::new()
        .merge(health::router())
        .merge(openapi::router());
    if served.resources {
        routes = routes.merge(resources(served));
    }
    if served.metrics {
        routes = routes.merge(metrics::router());
    }
    routes
}

/// The API under /v1.3, the media files under /media, the web console under
/// /console.
fn resources(served: &Served) -> OpenApiRouter<AppState> {
    let api = assets::router(served.create_limit.clone())
        .merge(indexes::router())
        .merge(multipart::router())
        .merge(webhooks::router())
        .merge(jobs::router());
    // Closed to browsers unless origins are configured: without a CORS layer a
    // preflight gets the usual 405 and no page on another origin may read a response.
    let api = match api_cors(&served.cors_origins) {
        Some(cors) => with_cors(api, cors),
        None => api,
    };
    OpenApiRouter::new()
        .nest("/v1.3", api)
        .merge(with_cors(media::router(), media::cors()))
        .merge(multipart::chunk_router())
        .merge(console::router())
}

/// tower-http's layer, so the CORS rules (preflight answers, `Vary`, origin
/// matching) are the library's, not ours. The 405 fallback is set inside the
/// layer: the outer router's would replace the wrapped one, and an unrouted
/// OPTIONS (a preflight) would then never reach the layer.
fn with_cors(router: OpenApiRouter<AppState>, cors: CorsLayer) -> OpenApiRouter<AppState> {
    let (router, document) = router.split_for_parts();
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors);
    OpenApiRouter::with_openapi(document).merge(router.into())
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

/// A path with a NUL byte names nothing: no id holds one. Answered here, so
/// that no handler sends one to the database (PostgreSQL refuses NUL in text).
async fn no_nul_in_path(request: Request, next: middleware::Next) -> Response {
    let path = request.uri().path();
    if path.contains("%00") {
        let path = path.to_string();
        return ApiError::RouteNotFound(format!("{} {path}", request.method())).into_response();
    }
    next.run(request).await
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
