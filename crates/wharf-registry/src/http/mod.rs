//! The HTTP face of the registry: one catch-all route under `/v2`, whose path is parsed
//! into a typed [`Endpoint`] and dispatched by method. Only this layer knows axum.

mod access_log;
mod authorize;
mod blobs;
mod body;
mod challenge;
mod credentials;
mod dispatch;
mod error;
pub mod forwarded;
mod headers;
mod health;
mod listing;
mod manifests;
mod mirror;
mod prefix;
mod query;
mod range;
pub mod request_id;
mod required;
mod token;
mod uploads;

use crate::auth::AccessControl;
use crate::registry::Registry;
use axum::routing::any;
use axum::Router;
use std::sync::Arc;

pub use access_log::TARGET as ACCESS_LOG_TARGET;
pub use wharf_oci::Endpoint;

/// Shared state of every handler.
pub(crate) type AppState = Arc<Registry>;

/// The registry's routes (`/v2`, `/v2/` and everything below, and the probes
/// `/healthz` and `/readyz`, which answer without access control), ready to serve or to be
/// merged into an application's own router. Open to everyone: see
/// [`router_with_access`] for a registry with access control.
///
/// The router may also be nested under a path prefix (`Router::nest("/registry", …)`):
/// every `Location` and `Link` it answers (upload sessions, blobs, manifests, the next
/// page of a listing) then leads back under the prefix the request came in on. That is
/// for HTTP clients that follow those answers, and for applications that rewrite paths
/// in front of the registry: docker, podman and the other container clients always
/// address `/v2/` at the root of the host, so for them the registry must be merged at
/// the root (or given a host of its own).
pub fn router(registry: Arc<Registry>) -> Router {
    let routes = v2_routes(registry.clone());
    // The probes beside the registry's routes (/healthz, /readyz).
    let routes = with_mirror_namespace(routes, registry.clone()).merge(health::routes(registry));
    with_common_layers(routes)
}

/// Rewrites containerd's `?ns=` requests (see [`mirror`]); outside access control, so
/// that the rewritten name is the one authorized.
fn with_mirror_namespace(routes: Router, registry: Arc<Registry>) -> Router {
    routes.layer(axum::middleware::from_fn_with_state(registry, mirror::namespace))
}

/// The registry's routes behind `access`: every request is authenticated and authorized
/// before it reaches the registry, and `/token` is served when `access` has a token
/// issuer.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`, so the login
/// throttle counts failed logins per client address. Served without connect info, the
/// registry cannot tell clients apart: the throttle falls back to **one count shared by
/// every client** (one client's failures refuse everyone's logins until the window has
/// passed) and logs a warning saying so the first time. Behind a reverse proxy, wrap
/// the router with [`forwarded::with_trusted_proxies`] (the client's address taken from
/// the proxies' `X-Forwarded-For`), or insert the real client's address as
/// `axum::extract::ConnectInfo<SocketAddr>` in a layer of your own, or turn the
/// throttle off with `AccessControl::with_throttle(None)` and limit logins at the proxy.
///
/// Nested under a prefix (see [`router`]), `/token` is under the prefix too: the realm of
/// a [`Challenge::Bearer`](crate::auth::Challenge::Bearer) must be its public URL there
/// (`https://HOST/registry/token`).
pub fn router_with_access(registry: Arc<Registry>, access: AccessControl) -> Router {
    router_with_shared_access(registry, Arc::new(access))
}

/// [`router_with_access`] with a policy shared with other routers of the application
/// (the web UI signs people in and filters what it shows with the same one).
pub fn router_with_shared_access(registry: Arc<Registry>, access: Arc<AccessControl>) -> Router {
    let routes = v2_routes(registry.clone()).route_layer(axum::middleware::from_fn_with_state(
        access.clone(),
        authorize::authorize,
    ));
    let mut routes = with_mirror_namespace(routes, registry.clone());
    if access.token_issuer().is_some() {
        routes = routes.merge(token::routes(access));
    }
    // Outside the access check: probes need no credentials and never count as logins.
    with_common_layers(routes.merge(health::routes(registry)))
}

fn v2_routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(dispatch::dispatch))
        .route("/v2/", any(dispatch::dispatch))
        .route("/v2/{*path}", any(dispatch::dispatch))
        .with_state(registry)
}

fn with_common_layers(routes: Router) -> Router {
    routes
        .layer(axum::middleware::from_fn(prefix::restore_prefix))
        .layer(axum::middleware::map_response(headers::add_api_version))
        .layer(axum::middleware::from_fn(access_log::log_request))
}
