//! What a request needs, derived from its parsed [`Endpoint`] and method: this is the
//! one place that says which action each operation of the API is.

use crate::auth::{Access, Action, Actions};
use http::Method;
use wharf_oci::Endpoint;

/// The access a request must have before it is dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Any identity but an anonymous one: `/v2/` (clients probe it for the challenge),
    /// the catalog (filtered to what the caller may pull) and paths that are no
    /// endpoint. `scope` is what to ask a client to get a token for.
    SignedIn { scope: Option<Access> },
    /// Actions on a repository.
    Repository(Access),
}

/// Reads need `pull`, deletes `delete`, every other method (uploads, manifest pushes,
/// and methods the endpoint refuses anyway) `push`.
pub fn need(endpoint: Option<&Endpoint>, method: &Method) -> Need {
    let Some(endpoint) = endpoint else {
        return Need::SignedIn { scope: None };
    };
    let Some(name) = endpoint.name() else {
        let scope = matches!(endpoint, Endpoint::Catalog).then(Access::catalog);
        return Need::SignedIn { scope };
    };
    let action = match endpoint {
        Endpoint::UploadStart { .. } | Endpoint::Upload { .. } => Action::Push,
        Endpoint::Tags { .. } | Endpoint::Referrers { .. } => Action::Pull,
        _ => match *method {
            Method::GET | Method::HEAD => Action::Pull,
            Method::DELETE => Action::Delete,
            _ => Action::Push,
        },
    };
    Need::Repository(Access::repository(name.clone(), Actions::of([action])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(path: &str, method: Method) -> String {
        match need(Endpoint::parse(path).ok().as_ref(), &method) {
            Need::Repository(a) => a.to_string(),
            Need::SignedIn { scope } => format!("signed-in {scope:?}"),
        }
    }

    #[test]
    fn maps_operations_to_actions() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(scope("/v2/a/b/manifests/1", Method::GET), "repository:a/b:pull");
        assert_eq!(scope("/v2/a/manifests/1", Method::HEAD), "repository:a:pull");
        assert_eq!(scope("/v2/a/manifests/1", Method::PUT), "repository:a:push");
        assert_eq!(scope("/v2/a/manifests/1", Method::DELETE), "repository:a:delete");
        assert_eq!(
            scope(&format!("/v2/a/blobs/{d}"), Method::DELETE),
            "repository:a:delete"
        );
        assert_eq!(scope("/v2/a/blobs/uploads/", Method::POST), "repository:a:push");
        assert_eq!(scope("/v2/a/blobs/uploads/x1", Method::GET), "repository:a:push");
        assert_eq!(scope("/v2/a/tags/list", Method::GET), "repository:a:pull");
        assert_eq!(scope(&format!("/v2/a/referrers/{d}"), Method::GET), "repository:a:pull");
        assert_eq!(scope("/v2/", Method::GET), "signed-in None");
        assert!(scope("/v2/_catalog", Method::GET).contains("Catalog"));
        assert_eq!(scope("/v2/nothing", Method::GET), "signed-in None");
    }
}
