//! The mirror mode of containerd: `GET /v2/NAME/...?ns=docker.io` asks a mirror for
//! `docker.io`'s `NAME`. When `ns` is the prefix of a configured upstream, the request
//! is rewritten to the repository `ns/NAME` before access control and dispatch see it,
//! so it is authorized, cached and served exactly as `docker.io/NAME` would be. Any
//! other `ns` (none configured for it) is ignored, as CNCF Distribution ignores it.
//!
//! The rewrite changes the name in the [`Endpoint`] the outer layer parsed (the layers
//! inside take that one rather than parse the path again) and prints the path back from
//! it; a path that did not parse names no repository and is left as it came.

use super::access_log::Parsed;
use super::query::Query;
use super::AppState;
use crate::registry::RegistryError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Uri;
use wharf_oci::{Endpoint, NameError, RepositoryName};

pub(super) async fn namespace(State(registry): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Some(prefix) = mirrored_prefix(&registry, request.uri()) {
        let renamed = match request.extensions_mut().get_mut::<Parsed>() {
            Some(Parsed(endpoint)) => under_prefix(endpoint, prefix).map(|moved| moved.then(|| endpoint.path())),
            None => Ok(None),
        };
        match renamed {
            Ok(None) => {}
            Ok(Some(path)) => {
                let rewritten = match request.uri().query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path,
                };
                if let Ok(uri) = rewritten.parse::<Uri>() {
                    *request.uri_mut() = uri;
                }
            }
            // `ns/NAME` is too long a name, say: refused as such a name is.
            Err(e) => return RegistryError::from(e).into_response(),
        }
    }
    next.run(request).await
}

/// The prefix of the upstream the request's `?ns=` names, if one is configured.
fn mirrored_prefix<'r>(registry: &'r crate::Registry, uri: &Uri) -> Option<&'r str> {
    if registry.upstreams().is_empty() {
        return None;
    }
    let query = Query::parse(uri.query());
    let route = registry.upstreams().by_namespace(query.get("ns")?)?;
    Some(&route.prefix)
}

/// Puts `prefix/` in front of the repository `endpoint` names: `Ok(false)` where it
/// names none or is under the prefix already (never twice).
fn under_prefix(endpoint: &mut Endpoint, prefix: &str) -> Result<bool, NameError> {
    let Some(name) = endpoint.name_mut() else {
        return Ok(false);
    };
    if name.as_str().starts_with(&format!("{prefix}/")) {
        return Ok(false);
    }
    *name = format!("{prefix}/{name}").parse::<RepositoryName>()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renamed(path: &str) -> Result<Option<String>, NameError> {
        let mut endpoint = Endpoint::parse(path).unwrap();
        Ok(under_prefix(&mut endpoint, "docker.io")?.then(|| endpoint.path()))
    }

    #[test]
    fn the_name_goes_under_the_prefix_once_and_only_where_there_is_one() {
        assert_eq!(
            renamed("/v2/library/alpine/manifests/3").unwrap().as_deref(),
            Some("/v2/docker.io/library/alpine/manifests/3")
        );
        assert_eq!(
            renamed("/v2/org/app/blobs/uploads/").unwrap().as_deref(),
            Some("/v2/docker.io/org/app/blobs/uploads/")
        );
        assert_eq!(renamed("/v2/docker.io/library/alpine/tags/list").unwrap(), None);
        assert_eq!(renamed("/v2/").unwrap(), None);
        assert_eq!(renamed("/v2/_catalog").unwrap(), None);
        // A name that fits alone but not under the prefix is refused, not served unprefixed.
        let long = "a".repeat(250);
        assert!(renamed(&format!("/v2/{long}/tags/list")).is_err());
    }
}
