//! A registry mounted under a path prefix. An application that nests the router
//! (`Router::nest("/registry", router)`) has axum strip the prefix before the registry
//! sees a request, so the paths the registry writes into answers — the `Location` of an
//! upload session, a blob or a manifest, the `Link` to a listing's next page — would
//! lead out of the mount. This layer puts the prefix back on every one of them, so the
//! handlers keep writing plain `/v2/...` paths and none of them can forget it.

use super::headers::value;
use axum::extract::{OriginalUri, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::header;

/// Adds the prefix the request came in under to the paths of its answer.
pub async fn restore_prefix(request: Request, next: Next) -> Response {
    let prefix = mount_prefix(&request);
    let mut response = next.run(request).await;
    if let Some(prefix) = prefix {
        let headers = response.headers_mut();
        for name in [header::LOCATION, header::LINK] {
            if let Some(prefixed) = headers
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| with_prefix(v, &prefix))
            {
                headers.insert(name, value(prefixed));
            }
        }
    }
    response
}

/// What the router is mounted under: the part of the path the client sent that axum cut
/// off before this router. Taken from the request rather than from the route, so a
/// mount point with a parameter (`/tenants/{tenant}/registry`) gives each request its
/// own value.
fn mount_prefix(request: &Request) -> Option<String> {
    let OriginalUri(original) = request.extensions().get::<OriginalUri>()?;
    let prefix = original.path().strip_suffix(request.uri().path())?;
    (!prefix.is_empty()).then(|| prefix.to_string())
}

/// `value` with `prefix` before its path: a `Location` that is an absolute path, or a
/// `Link` whose target (`<…>`) is one.
fn with_prefix(value: &str, prefix: &str) -> Option<String> {
    if value.starts_with('/') {
        Some(format!("{prefix}{value}"))
    } else {
        value.strip_prefix("</").map(|rest| format!("<{prefix}/{rest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::with_prefix;

    #[test]
    fn prefixes_locations_and_link_targets() {
        assert_eq!(
            with_prefix("/v2/a/blobs/uploads/x", "/r").as_deref(),
            Some("/r/v2/a/blobs/uploads/x")
        );
        assert_eq!(
            with_prefix("</v2/a/tags/list?n=2&last=b>; rel=\"next\"", "/r").as_deref(),
            Some("</r/v2/a/tags/list?n=2&last=b>; rel=\"next\"")
        );
        assert_eq!(with_prefix("https://elsewhere/v2/", "/r"), None);
    }
}
