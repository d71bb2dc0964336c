//! Manifests and tags through an upstream.
//!
//! By digest, a manifest never changes: once fetched and verified it is stored and
//! served from then on. A tag is fetched on first use and recorded with the time; while
//! younger than the route's `tag_ttl` it is served as stored, after that the upstream
//! is asked with a HEAD (cheap, and not counted by Docker Hub as a pull) and the
//! manifest fetched again only if the digest moved. When the upstream cannot answer
//! (unreachable, 429 or 5xx after retries, refusing), a tag already cached is served
//! with a warning in the log. The times live in this process's memory: after a
//! restart every tag is checked once more on its next pull, which is safe (one HEAD).
//! Concurrent pulls of one reference wait for one fetch, then read what it stored.

use super::super::{Registry, RegistryError, RegistryResult, StoredManifest};
use super::upstream_error;
use crate::meta::ManifestRecord;
use crate::upstream::{UpstreamError, UpstreamManifest, UpstreamRoute};
use std::time::Instant;
use wharf_oci::{Digest, ErrorCode, ParsedManifest, Reference, RepositoryName, Tag};

impl Registry {
    /// The manifest `reference` names, as [`Registry::manifest`] finds it, or from the
    /// upstream for a repository under its prefix (see the module's rules).
    pub async fn manifest_or_pull(
        &self,
        name: &RepositoryName,
        reference: &Reference,
    ) -> RegistryResult<StoredManifest> {
        let Some((route, upstream_name)) = self.upstreams.route(name) else {
            return self.manifest(name, reference).await;
        };
        match reference {
            Reference::Digest(_) => match self.manifest(name, reference).await {
                Err(e) if is_unknown(&e) => {
                    let key = format!("{name}@{reference}");
                    let _one_at_a_time = self.pull_through.manifest_locks.lock(&key).await;
                    if let Ok(found) = self.manifest(name, reference).await {
                        return Ok(found);
                    }
                    self.pull_manifest(route, name, &upstream_name, reference, None).await
                }
                found => found,
            },
            Reference::Tag(tag) => self.tag_or_pull(route, name, &upstream_name, tag).await,
        }
    }

    async fn tag_or_pull(
        &self,
        route: &UpstreamRoute,
        name: &RepositoryName,
        upstream_name: &RepositoryName,
        tag: &Tag,
    ) -> RegistryResult<StoredManifest> {
        let reference = Reference::Tag(tag.clone());
        let key = format!("{name}:{tag}");
        let _one_at_a_time = self.pull_through.manifest_locks.lock(&key).await;
        let cached = match self.manifest_record(name, &reference).await {
            Ok(record) => Some(record),
            Err(e) if is_unknown(&e) => None,
            Err(e) => return Err(e),
        };
        let Some(cached) = cached else {
            return self
                .pull_manifest(route, name, upstream_name, &reference, Some(tag))
                .await;
        };
        if self.checked_within(&key, route.tag_ttl) {
            return self.manifest(name, &reference).await;
        }
        match route.source.tag_digest(upstream_name, tag).await {
            Ok(Some(digest)) if digest == cached.digest => {
                self.mark_checked(&key);
                self.manifest(name, &reference).await
            }
            Ok(Some(digest)) => {
                tracing::info!(repository = %name, %tag, from = %cached.digest, to = %digest, "tag moved upstream; fetching it again");
                match self
                    .pull_manifest(route, name, upstream_name, &reference, Some(tag))
                    .await
                {
                    Ok(found) => Ok(found),
                    Err(e) => {
                        let reason = if e.status == 503 { "unavailable" } else { "failed" };
                        self.serve_stale(route, name, tag, &cached, reason, &e.message).await
                    }
                }
            }
            Ok(None) => {
                // Gone upstream (or pushed here, where pushes are allowed): keep serving it.
                self.mark_checked(&key);
                self.manifest(name, &reference).await
            }
            Err(e) => {
                let reason = match e {
                    UpstreamError::Unavailable(_) => "unavailable",
                    UpstreamError::NotFound(_) | UpstreamError::Failed(_) => "failed",
                };
                self.serve_stale(route, name, tag, &cached, reason, &e.to_string())
                    .await
            }
        }
    }

    /// The cached tag, when the upstream cannot say whether it moved (`reason`, a
    /// metric's label: `unavailable` or `failed`; `why`: the upstream's answer).
    async fn serve_stale(
        &self,
        route: &UpstreamRoute,
        name: &RepositoryName,
        tag: &Tag,
        cached: &ManifestRecord,
        reason: &'static str,
        why: &str,
    ) -> RegistryResult<StoredManifest> {
        crate::metrics::pull_through_stale(reason);
        tracing::warn!(
            repository = %name, %tag, digest = %cached.digest, upstream = %route.source.describe(),
            "serving a cached tag without checking it: the upstream did not answer ({why})"
        );
        self.manifest(name, &Reference::Tag(tag.clone())).await
    }

    /// Fetches `reference` from the upstream, stores it (tagged `tag`) and serves it.
    async fn pull_manifest(
        &self,
        route: &UpstreamRoute,
        name: &RepositoryName,
        upstream_name: &RepositoryName,
        reference: &Reference,
        tag: Option<&Tag>,
    ) -> RegistryResult<StoredManifest> {
        let fetched = route.source.manifest(upstream_name, reference).await;
        crate::metrics::pull_through_fetch("manifest", fetched.is_ok());
        let fetched =
            fetched.map_err(|e: UpstreamError| upstream_error(route, &format!("manifest {name}:{reference}"), e))?;
        tracing::info!(repository = %name, %reference, digest = %fetched.digest, upstream = %route.source.describe(), "pulled a manifest through");
        self.store_pulled_manifest(name, tag, &fetched).await?;
        if let Some(tag) = tag {
            self.mark_checked(&format!("{name}:{tag}"));
        }
        self.manifest(name, &Reference::Digest(fetched.digest)).await
    }

    /// Stores a manifest from an upstream like a push would, except that the blobs
    /// and children it references need not be here yet (they are pulled when asked).
    async fn store_pulled_manifest(
        &self,
        name: &RepositoryName,
        tag: Option<&Tag>,
        manifest: &UpstreamManifest,
    ) -> RegistryResult<()> {
        let digest = &manifest.digest;
        let actual = Digest::of(digest.algorithm(), &manifest.bytes);
        if &actual != digest {
            return Err(super::gateway_error(
                502,
                format!("the upstream's manifest {digest} has digest {actual}; nothing was cached"),
            ));
        }
        let parsed = ParsedManifest::parse(Some(manifest.media_type.as_str()), &manifest.bytes)?;
        let tags: Vec<Tag> = tag.into_iter().cloned().collect();
        self.store_manifest(name, digest.clone(), &parsed, manifest.bytes.clone(), &tags, false)
            .await
    }

    fn checked_within(&self, key: &str, ttl: std::time::Duration) -> bool {
        let checked = self.pull_through.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.get(key).is_some_and(|at| at.elapsed() < ttl)
    }

    fn mark_checked(&self, key: &str) {
        let mut checked = self.pull_through.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.insert(key.to_string(), Instant::now());
    }
}

fn is_unknown(e: &RegistryError) -> bool {
    matches!(e.code, Some(ErrorCode::ManifestUnknown | ErrorCode::NameUnknown))
}
