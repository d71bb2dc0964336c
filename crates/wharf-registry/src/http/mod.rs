//! The HTTP face of the registry: one catch-all route under `/v2`, whose path is parsed
//! into a typed [`Endpoint`] and dispatched by method. Only this layer knows axum.

mod access_log;
mod blobs;
mod body;
mod dispatch;
mod error;
mod headers;
mod listing;
mod manifests;
mod query;
mod range;
mod uploads;

use crate::registry::Registry;
use axum::routing::any;
use axum::Router;
use std::sync::Arc;

pub use wharf_oci::Endpoint;

/// Shared state of every handler.
pub(crate) type AppState = Arc<Registry>;

/// The registry's routes (`/v2`, `/v2/` and everything below), ready to serve or to be
/// merged into an application's own router.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(dispatch::dispatch))
        .route("/v2/", any(dispatch::dispatch))
        .route("/v2/{*path}", any(dispatch::dispatch))
        .with_state(registry)
        .layer(axum::middleware::map_response(headers::add_api_version))
        .layer(axum::middleware::from_fn(access_log::log_request))
}
