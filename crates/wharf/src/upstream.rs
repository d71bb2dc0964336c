//! `[[upstreams]]`: the registries wharf caches (pull-through), and their client.
//!
//! The protocol side lives in `wharf_registry::upstream` and `registry/pull_through`;
//! this file reads the configuration and implements `Upstream` with `wharf-client`,
//! which brings retries with backoff (429, 5xx, connection errors; `Retry-After`
//! honoured), Basic and token authentication, and digest checks of manifests.

use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wharf_client::{Client, ClientConfig, Credential, Credentials, Repository, RetryPolicy};
use wharf_registry::async_trait;
use wharf_registry::storage::ByteStream;
use wharf_registry::upstream::{Upstream, UpstreamBlob, UpstreamError, UpstreamManifest, UpstreamRoute, Upstreams};
use wharf_registry::wharf_oci::{Digest, Reference, RepositoryName, Tag};

/// One `[[upstreams]]` entry of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Repositories under `prefix/` are caches of this upstream (`docker.io`, or
    /// `docker.io/*`: the same).
    pub prefix: String,
    /// The upstream's URLs, tried in order while one is unreachable or failing.
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A docker `config.json` whose `auths` hold the upstream's credentials.
    pub docker_config: Option<PathBuf>,
    /// How long a tag is served from the cache before it is checked upstream (`5m`).
    #[serde(default, with = "humantime_serde")]
    pub tag_ttl: Option<Duration>,
    /// Accept pushes into the prefix (refused by default).
    #[serde(default)]
    pub allow_push: bool,
    /// Most bytes of cached blobs to keep (`50G`): above it, each garbage collection
    /// first unlinks the least recently pulled (see README).
    pub max_size: Option<String>,
}

/// The routes the registry pulls through, from the config's entries.
pub fn build(configs: &[UpstreamConfig]) -> Result<Upstreams, String> {
    let mut routes = Vec::new();
    for config in configs {
        let source = ClientUpstream::new(config)?;
        let mut route = UpstreamRoute::new(&config.prefix, Arc::new(source));
        if let Some(ttl) = config.tag_ttl {
            route.tag_ttl = ttl;
        }
        route.allow_push = config.allow_push;
        if let Some(size) = &config.max_size {
            route.max_size = Some(max_size(&config.prefix, size)?);
        }
        if routes.iter().any(|r: &UpstreamRoute| r.prefix == route.prefix) {
            return Err(format!("two [[upstreams]] have the prefix {:?}", route.prefix));
        }
        routes.push(route);
    }
    Ok(Upstreams::new(routes))
}

/// An upstream's `max_size`: a byte count of at least 1 byte (no entry means no limit).
fn max_size(prefix: &str, size: &str) -> Result<u64, String> {
    match crate::lifecycle::parse_bytes(size) {
        Ok(0) => Err(format!(
            "upstream {prefix}: max_size must be at least 1 byte (leave it out for no limit)"
        )),
        Ok(max) => Ok(max),
        Err(e) => Err(format!("upstream {prefix}: max_size {e}")),
    }
}

/// An upstream reached with `wharf-client`, one client per URL.
struct ClientUpstream {
    /// (`host[:port]` as the client addresses it, its client).
    urls: Vec<(String, Client)>,
    description: String,
}

impl ClientUpstream {
    fn new(config: &UpstreamConfig) -> Result<ClientUpstream, String> {
        let prefix = config.prefix.trim_end_matches("/*").trim_end_matches('/');
        if prefix.parse::<RepositoryName>().is_err() {
            return Err(format!(
                "upstream prefix {:?} is not a repository name prefix (e.g. docker.io, ghcr.io, mirrors/quay)",
                config.prefix
            ));
        }
        if config.urls.is_empty() {
            return Err(format!(
                "upstream {prefix}: urls is empty (e.g. urls = [\"https://registry-1.docker.io\"])"
            ));
        }
        if config.username.is_some() != config.password.is_some() {
            return Err(format!(
                "upstream {prefix}: give both username and password, or neither"
            ));
        }
        let mut urls = Vec::new();
        for url in &config.urls {
            let (plain, host) = if let Some(host) = url.strip_prefix("http://") {
                (true, host)
            } else if let Some(host) = url.strip_prefix("https://") {
                (false, host)
            } else {
                return Err(format!(
                    "upstream {prefix}: {url:?} must start with https:// or http://"
                ));
            };
            let host = host.trim_end_matches('/');
            if host.is_empty() || host.contains('/') {
                return Err(format!(
                    "upstream {prefix}: {url:?} must be a registry's address without a path (https://HOST[:PORT])"
                ));
            }
            let mut credentials = match &config.docker_config {
                Some(path) => Credentials::from_docker_config(path).map_err(|e| format!("upstream {prefix}: {e}"))?,
                None => Credentials::new(),
            };
            if let (Some(user), Some(password)) = (&config.username, &config.password) {
                credentials.insert(host, Credential::new(user, password));
            }
            let client_config = ClientConfig {
                retry: RetryPolicy {
                    max_attempts: 3,
                    initial_backoff: Duration::from_millis(200),
                    max_backoff: Duration::from_secs(5),
                },
                connect_timeout: Duration::from_secs(5),
                plain_http_hosts: if plain { vec![host.to_string()] } else { Vec::new() },
                ..ClientConfig::default()
            };
            let client = Client::new(client_config, credentials).map_err(|e| format!("upstream {prefix}: {e}"))?;
            urls.push((host.to_string(), client));
        }
        Ok(ClientUpstream {
            description: config.urls.join(", "),
            urls,
        })
    }

    /// `op` against each URL in turn, while the answer is "unavailable".
    async fn first<T, F, Fut>(&self, name: &RepositoryName, op: F) -> Result<T, UpstreamError>
    where
        F: Fn(Client, Repository) -> Fut,
        Fut: std::future::Future<Output = Result<T, wharf_client::Error>>,
    {
        let mut last = UpstreamError::Unavailable("no URL configured".into());
        for (host, client) in &self.urls {
            let repo = Repository::new(host.clone(), name.clone());
            match op(client.clone(), repo).await.map_err(classify) {
                Err(UpstreamError::Unavailable(why)) => {
                    tracing::warn!(upstream = %host, "upstream unavailable: {why}");
                    last = UpstreamError::Unavailable(why);
                }
                answer => return answer,
            }
        }
        Err(last)
    }
}

/// What a client error means for the cache.
fn classify(error: wharf_client::Error) -> UpstreamError {
    use wharf_client::Error;
    let text = error.to_string();
    match &error {
        e if e.is_not_found() => UpstreamError::NotFound(text),
        Error::Transport { .. } | Error::Io { .. } => UpstreamError::Unavailable(text),
        Error::Registry { status, .. } if *status == 429 || *status >= 500 => UpstreamError::Unavailable(text),
        _ => UpstreamError::Failed(text),
    }
}

#[async_trait]
impl Upstream for ClientUpstream {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn manifest(&self, name: &RepositoryName, reference: &Reference) -> Result<UpstreamManifest, UpstreamError> {
        let manifest = self
            .first(name, |client, repo| {
                let reference = reference.clone();
                async move { client.get_manifest(&repo, &reference).await }
            })
            .await?;
        Ok(UpstreamManifest {
            digest: manifest.digest,
            media_type: manifest.media_type,
            bytes: manifest.bytes,
        })
    }

    async fn tag_digest(&self, name: &RepositoryName, tag: &Tag) -> Result<Option<Digest>, UpstreamError> {
        let found = self
            .first(name, |client, repo| {
                let reference = Reference::Tag(tag.clone());
                async move { client.head_manifest(&repo, &reference).await }
            })
            .await?;
        Ok(found.map(|d| d.digest))
    }

    async fn blob(&self, name: &RepositoryName, digest: &Digest) -> Result<UpstreamBlob, UpstreamError> {
        let (size, stream) = self
            .first(name, |client, repo| {
                let digest = digest.clone();
                async move { client.open_blob(&repo, &digest).await }
            })
            .await?;
        let stream: ByteStream = stream;
        Ok(UpstreamBlob { size, stream })
    }

    async fn blob_size(&self, name: &RepositoryName, digest: &Digest) -> Result<Option<u64>, UpstreamError> {
        self.first(name, |client, repo| {
            let digest = digest.clone();
            async move { client.blob_exists(&repo, &digest).await }
        })
        .await
    }

    async fn tags(&self, name: &RepositoryName) -> Result<Vec<String>, UpstreamError> {
        self.first(name, |client, repo| async move { client.list_tags(&repo, None).await })
            .await
    }

    async fn referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<serde_json::Value>, UpstreamError> {
        let found = self
            .first(name, |client, repo| {
                let subject = subject.clone();
                async move { client.referrers(&repo, &subject, None).await }
            })
            .await?;
        Ok(found.into_iter().filter_map(|d| serde_json::to_value(d).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::max_size;

    #[test]
    fn max_size_reads_units_and_refuses_zero_with_its_own_name() {
        assert_eq!(max_size("up", "50G"), Ok(50 << 30));
        assert_eq!(max_size("up", "1T"), Ok(1 << 40));
        let zero = max_size("up", "0").unwrap_err();
        assert!(zero.contains("max_size must be at least 1 byte"), "{zero}");
        let bad = max_size("up", "lots").unwrap_err();
        assert!(bad.starts_with("upstream up: max_size"), "{bad}");
    }
}
