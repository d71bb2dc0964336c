//! Which repositories are caches of which upstream: a prefix per upstream.

use super::Upstream;
use std::sync::Arc;
use std::time::Duration;
use wharf_oci::RepositoryName;

/// One upstream and the repositories that mirror it: every name under `prefix/`.
#[derive(Clone)]
pub struct UpstreamRoute {
    /// The first segments of the names it serves, without a trailing `/` (`docker.io`,
    /// `ghcr.io`, `mirrors/quay`). A name under it is `prefix/` + the upstream's name.
    pub prefix: String,
    pub source: Arc<dyn Upstream>,
    /// How long a tag fetched from the upstream is served before it is checked again.
    pub tag_ttl: Duration,
    /// Whether pushes into the prefix are accepted (else DENIED).
    pub allow_push: bool,
    /// Whether one-segment names get `library/` in front upstream (Docker Hub's
    /// official images: `docker.io/alpine` is `library/alpine` there).
    pub library_for_single_names: bool,
    /// The most bytes of blobs pulled through this upstream to keep, if any: above it,
    /// the least recently pulled are unlinked (and collected as garbage).
    pub max_size: Option<u64>,
}

impl std::fmt::Debug for UpstreamRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRoute")
            .field("prefix", &self.prefix)
            .field("source", &self.source.describe())
            .field("tag_ttl", &self.tag_ttl)
            .field("allow_push", &self.allow_push)
            .finish()
    }
}

impl UpstreamRoute {
    /// A route for `prefix` (a trailing `/*` or `/` is dropped; `docker.io` adds
    /// `library/` to one-segment names) with a tag TTL of 5 minutes and pushes refused.
    pub fn new(prefix: &str, source: Arc<dyn Upstream>) -> UpstreamRoute {
        let prefix = prefix.trim_end_matches("/*").trim_end_matches('/').to_string();
        UpstreamRoute {
            library_for_single_names: prefix == "docker.io",
            prefix,
            source,
            tag_ttl: Duration::from_secs(300),
            allow_push: false,
            max_size: None,
        }
    }

    /// The upstream's name for the local `name`, if `name` is under this prefix.
    pub fn upstream_name(&self, name: &RepositoryName) -> Option<RepositoryName> {
        let rest = name.as_str().strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let rest = if self.library_for_single_names && !rest.contains('/') {
            format!("library/{rest}")
        } else {
            rest.to_string()
        };
        rest.parse().ok()
    }
}

/// Every configured upstream; empty by default (no repository pulls through).
#[derive(Clone, Debug, Default)]
pub struct Upstreams {
    routes: Vec<UpstreamRoute>,
}

impl Upstreams {
    pub fn new(routes: Vec<UpstreamRoute>) -> Upstreams {
        // The longest prefix wins when prefixes nest (`mirrors` and `mirrors/quay`).
        let mut routes = routes;
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Upstreams { routes }
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn routes(&self) -> &[UpstreamRoute] {
        &self.routes
    }

    /// The route `name` is under and the upstream's name for it.
    pub fn route(&self, name: &RepositoryName) -> Option<(&UpstreamRoute, RepositoryName)> {
        self.routes
            .iter()
            .find_map(|r| r.upstream_name(name).map(|upstream| (r, upstream)))
    }

    /// The route whose prefix is exactly `namespace` (containerd's `?ns=docker.io`).
    pub fn by_namespace(&self, namespace: &str) -> Option<&UpstreamRoute> {
        self.routes.iter().find(|r| r.prefix == namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nowhere;
    #[async_trait::async_trait]
    impl Upstream for Nowhere {
        fn describe(&self) -> String {
            "nowhere".into()
        }
        async fn manifest(
            &self,
            _: &RepositoryName,
            _: &wharf_oci::Reference,
        ) -> Result<super::super::UpstreamManifest, super::super::UpstreamError> {
            unreachable!()
        }
        async fn tag_digest(
            &self,
            _: &RepositoryName,
            _: &wharf_oci::Tag,
        ) -> Result<Option<wharf_oci::Digest>, super::super::UpstreamError> {
            unreachable!()
        }
        async fn blob(
            &self,
            _: &RepositoryName,
            _: &wharf_oci::Digest,
        ) -> Result<super::super::UpstreamBlob, super::super::UpstreamError> {
            unreachable!()
        }
        async fn blob_size(
            &self,
            _: &RepositoryName,
            _: &wharf_oci::Digest,
        ) -> Result<Option<u64>, super::super::UpstreamError> {
            unreachable!()
        }
        async fn tags(&self, _: &RepositoryName) -> Result<Vec<String>, super::super::UpstreamError> {
            unreachable!()
        }
        async fn referrers(
            &self,
            _: &RepositoryName,
            _: &wharf_oci::Digest,
        ) -> Result<Vec<serde_json::Value>, super::super::UpstreamError> {
            unreachable!()
        }
    }

    fn name(s: &str) -> RepositoryName {
        s.parse().unwrap()
    }

    #[test]
    fn names_map_under_their_prefix_and_docker_hub_adds_library() {
        let routes = Upstreams::new(vec![
            UpstreamRoute::new("docker.io/*", Arc::new(Nowhere)),
            UpstreamRoute::new("mirrors", Arc::new(Nowhere)),
            UpstreamRoute::new("mirrors/quay", Arc::new(Nowhere)),
        ]);
        let (r, up) = routes.route(&name("docker.io/alpine")).unwrap();
        assert_eq!((r.prefix.as_str(), up.as_str()), ("docker.io", "library/alpine"));
        let (_, up) = routes.route(&name("docker.io/grafana/grafana")).unwrap();
        assert_eq!(up.as_str(), "grafana/grafana");
        let (r, up) = routes.route(&name("mirrors/quay/org/app")).unwrap();
        assert_eq!((r.prefix.as_str(), up.as_str()), ("mirrors/quay", "org/app"));
        let (r, up) = routes.route(&name("mirrors/app")).unwrap();
        assert_eq!((r.prefix.as_str(), up.as_str()), ("mirrors", "app"));
        assert!(routes.route(&name("docker.iox/alpine")).is_none());
        assert!(routes.route(&name("docker.io")).is_none());
        assert!(routes.route(&name("team/app")).is_none());
        assert_eq!(routes.by_namespace("docker.io").unwrap().prefix, "docker.io");
    }
}
