//! The mirror mode of containerd: `GET /v2/NAME/...?ns=docker.io` asks a mirror for
//! `docker.io`'s `NAME`. When `ns` is the prefix of a configured upstream, the request
//! is rewritten to the repository `ns/NAME` before access control and dispatch see it,
//! so it is authorized, cached and served exactly as `docker.io/NAME` would be. Any
//! other `ns` (none configured for it) is ignored, as CNCF Distribution ignores it.

use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::Uri;

pub(super) async fn namespace(State(registry): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Some(rewritten) = rewrite(&registry, request.uri()) {
        // The endpoint the outer layer parsed names the repository before the rewrite.
        match wharf_oci::Endpoint::parse(rewritten.path()) {
            Ok(endpoint) => request.extensions_mut().insert(super::access_log::Parsed(endpoint)),
            Err(_) => request.extensions_mut().remove::<super::access_log::Parsed>(),
        };
        *request.uri_mut() = rewritten;
    }
    next.run(request).await
}

fn rewrite(registry: &crate::Registry, uri: &Uri) -> Option<Uri> {
    if registry.upstreams().is_empty() {
        return None;
    }
    let ns = form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "ns")
        .map(|(_, v)| v.into_owned())?;
    let route = registry.upstreams().by_namespace(&ns)?;
    let rest = uri.path().strip_prefix("/v2/")?;
    // Only paths that name a repository; and never twice.
    if rest.is_empty() || rest.starts_with('_') || rest.starts_with(&format!("{}/", route.prefix)) {
        return None;
    }
    let path = format!("/v2/{}/{rest}", route.prefix);
    let rebuilt = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    rebuilt.parse().ok()
}
