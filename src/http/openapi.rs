//! `GET /openapi.json`: the OpenAPI 3.1 document. It is made from the
//! handlers' annotations by the same calls that build the router
//! (`http::routes`), so a route cannot be served undocumented, nor documented
//! and not served. `openapi.yaml` in the repository is this document as YAML
//! (`assetd openapi`); a test fails when they differ.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Served};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "assetd",
        description = "A self-hosted media asset server speaking the TwelveLabs v1.3 Assets API.
Every `/v1.3` operation needs the `x-api-key` header. Errors are JSON objects
with `code` and `message`. Browsers (CORS): `/v1.3` answers only the origins
the server is configured with (`--cors-origins`), exposing `x-request-id`,
`X-Ratelimit-*` and `Retry-After`; `/media` answers any.",
    ),
    servers((url = "http://127.0.0.1:8080")),
    modifiers(&KeyHeader),
)]
struct Head;

/// The one security scheme: an account's API key in `x-api-key`.
struct KeyHeader;

impl Modify for KeyHeader {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            super::auth::SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(super::auth::HEADER))),
        );
    }
}

/// The document of every route this server can serve (whatever this node's
/// configuration leaves out).
pub fn document() -> Document {
    let routes =
        OpenApiRouter::with_openapi(Head::openapi()).merge(super::routes(&Served::everything()));
    let mut document = routes.into_openapi();
    // axum's catch-all segment (`{*file}`) is a plain parameter in OpenAPI.
    document.paths.paths = std::mem::take(&mut document.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    document
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(serve))
}

/// The document, serialized once.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_json().expect("the document serializes"))
}

/// This document.
#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object)),
)]
async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}
