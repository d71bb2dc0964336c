//! The web UI: browse, inspect and delete content in a browser, served at `/ui/` beside
//! the registry's API (a router of its own: requests to `/v2/` never pass through it).
//!
//! Pages are rendered on the server with maud, which escapes every value it interpolates,
//! so repository names, tags, annotations and labels (what pushers wrote) can never
//! become markup. The only script is an embedded file (copy-to-clipboard, a
//! confirmation prompt), allowed by a Content-Security-Policy that forbids inline script;
//! every page works without it. What a viewer sees is what the registry's own access
//! control lets them pull ([`crate::auth::AccessControl`]); a sign-in form checks a user
//! name and password with its authenticators and keeps the person signed in with an
//! HMAC-signed cookie, and every form carries a token bound to that cookie.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn app(registry: Arc<wharf_registry::Registry>) -> wharf_registry::axum::Router {
//! use wharf_registry::ui::{self, UiConfig};
//! wharf_registry::router(registry.clone()).merge(ui::router(registry, None, UiConfig::default()))
//! # }
//! ```

mod assets;
mod data;
mod format;
mod pages;
mod security;
mod session;
mod viewer;

use crate::auth::AccessControl;
use crate::registry::Registry;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

pub use session::SessionKey;

/// Where the UI is served.
pub const PREFIX: &str = "/ui";

/// How the UI behaves.
#[derive(Clone)]
pub struct UiConfig {
    /// Signs session cookies and form tokens. Replicas behind one address need the same
    /// key, or a person is signed out when their next request reaches another replica.
    pub session_key: SessionKey,
    /// Marks the cookie `Secure` (set when the server speaks TLS).
    pub secure_cookies: bool,
    /// How long a sign-in lasts.
    pub session_lifetime: Duration,
    /// The host name shown in pull commands (`docker pull HOST/name:tag`); by default
    /// the request's `Host`.
    pub registry_host: Option<String>,
}

impl Default for UiConfig {
    fn default() -> UiConfig {
        UiConfig {
            session_key: SessionKey::random(),
            secure_cookies: false,
            session_lifetime: Duration::from_secs(12 * 3600),
            registry_host: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct UiState {
    pub registry: Arc<Registry>,
    pub access: Option<Arc<AccessControl>>,
    pub config: UiConfig,
}

type State = Arc<UiState>;

/// The UI's routes under [`PREFIX`]. `access` is the policy the registry's router
/// applies (the same `Arc`, see [`crate::router_with_shared_access`]), or `None` for a
/// registry open to everyone, where anyone may also delete. Serve it with connect info
/// (`into_make_service_with_connect_info::<SocketAddr>()`) so failed sign-ins are
/// throttled per client address, as the API's logins are.
pub fn router(registry: Arc<Registry>, access: Option<Arc<AccessControl>>, config: UiConfig) -> Router {
    let state = Arc::new(UiState {
        registry,
        access,
        config,
    });
    Router::new()
        .route("/ui", get(pages::to_ui))
        .route("/ui/", get(pages::repositories::page))
        .route("/ui/repository", get(pages::repository::page))
        .route("/ui/manifest", get(pages::manifest::page))
        .route("/ui/delete", get(pages::delete::confirm).post(pages::delete::delete))
        .route("/ui/sign-in", get(pages::sign_in::form).post(pages::sign_in::sign_in))
        .route("/ui/sign-out", axum::routing::post(pages::sign_in::sign_out))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/{*rest}", get(pages::not_found))
        .with_state(state)
        .layer(axum::middleware::map_response(security::headers))
}

/// `/` answered with a redirect to the UI, for a server that serves it at the root.
pub fn root_redirect() -> Router {
    Router::new().route("/", get(pages::to_ui))
}
