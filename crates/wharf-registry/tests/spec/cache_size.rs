//! The size limit of an upstream's cache (`max_size`): over it, the least recently
//! pulled blobs are unlinked (in that order), the collector reclaims their bytes, and a
//! later pull fetches them from the upstream again. The upstream is in memory and
//! counts what it sends.

use crate::content::{image_json, Blob, Manifest};
use crate::harness::TestServer;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wharf_registry::async_trait;
use wharf_registry::bytes::Bytes;
use wharf_registry::registry::gc::GcOptions;
use wharf_registry::upstream::{Upstream, UpstreamBlob, UpstreamError, UpstreamManifest, UpstreamRoute, Upstreams};
use wharf_registry::wharf_oci::{Digest, Reference, RepositoryName, Tag};
use wharf_registry::RegistryConfig;

/// Blobs by digest and manifests by (name, tag); counts the downloads of each blob.
#[derive(Default)]
struct CountingUpstream {
    blobs: HashMap<Digest, Bytes>,
    manifests: HashMap<(String, String), Manifest>,
    downloads: Mutex<HashMap<Digest, usize>>,
}

impl CountingUpstream {
    /// An image whose config is `config` and only layer `layer`, tagged `v1` in `name`.
    fn image(&mut self, name: &str, config: &Blob, layer: &Blob) {
        for blob in [config, layer] {
            self.blobs
                .insert(blob.digest.parse().unwrap(), Bytes::from(blob.bytes.clone()));
        }
        let manifest = Manifest::new(&image_json(config, &[layer]));
        self.manifests.insert((name.into(), "v1".into()), manifest);
    }

    fn tagged(&self, name: &RepositoryName, tag: &str) -> Option<&Manifest> {
        self.manifests.get(&(name.to_string(), tag.to_string()))
    }
}

impl CountingUpstream {
    fn downloads(&self, digest: &str) -> usize {
        let digest: Digest = digest.parse().unwrap();
        self.downloads.lock().unwrap().get(&digest).copied().unwrap_or(0)
    }
}

fn not_found() -> UpstreamError {
    UpstreamError::NotFound("not in this test's upstream".into())
}

#[async_trait]
impl Upstream for CountingUpstream {
    fn describe(&self) -> String {
        "the test's upstream".into()
    }

    async fn manifest(&self, name: &RepositoryName, reference: &Reference) -> Result<UpstreamManifest, UpstreamError> {
        let Reference::Tag(tag) = reference else {
            return Err(not_found());
        };
        let manifest = self.tagged(name, tag.as_str()).ok_or_else(not_found)?;
        Ok(UpstreamManifest {
            digest: manifest.digest.parse().unwrap(),
            media_type: manifest.media_type.clone(),
            bytes: Bytes::from(manifest.bytes.clone()),
        })
    }

    async fn tag_digest(&self, name: &RepositoryName, tag: &Tag) -> Result<Option<Digest>, UpstreamError> {
        Ok(self.tagged(name, tag.as_str()).map(|m| m.digest.parse().unwrap()))
    }

    async fn blob(&self, _: &RepositoryName, digest: &Digest) -> Result<UpstreamBlob, UpstreamError> {
        let bytes = self.blobs.get(digest).cloned().ok_or_else(not_found)?;
        *self.downloads.lock().unwrap().entry(digest.clone()).or_default() += 1;
        Ok(UpstreamBlob {
            size: Some(bytes.len() as u64),
            stream: Box::pin(futures::stream::iter([Ok(bytes)])),
        })
    }

    async fn blob_size(&self, _: &RepositoryName, digest: &Digest) -> Result<Option<u64>, UpstreamError> {
        Ok(self.blobs.get(digest).map(|b| b.len() as u64))
    }

    async fn tags(&self, _: &RepositoryName) -> Result<Vec<String>, UpstreamError> {
        Err(not_found())
    }

    async fn referrers(&self, _: &RepositoryName, _: &Digest) -> Result<Vec<serde_json::Value>, UpstreamError> {
        Ok(Vec::new())
    }
}

/// Pulls `blob` from `repo` and waits until the registry holds it (the link of a first
/// pull is made as its download ends).
async fn pull(s: &TestServer, repo: &str, blob: &Blob) {
    let response = s.get(&format!("/v2/{repo}/blobs/{}", blob.digest)).await;
    assert_eq!(response.status(), StatusCode::OK, "{repo}@{}", blob.digest);
    assert_eq!(response.bytes().await.unwrap(), blob.bytes);
    let name: RepositoryName = repo.parse().unwrap();
    let digest: Digest = blob.digest.parse().unwrap();
    for _ in 0..500 {
        if s.registry.blob(&name, &digest).await.is_ok() {
            // Pull times are kept to the millisecond: keep the pulls apart.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{repo}@{} was never cached", blob.digest);
}

#[tokio::test]
async fn over_max_size_the_least_recently_pulled_blobs_go_first_and_come_back_from_the_upstream() {
    let (a, b, c, d) = (
        Blob::random(1, 1000),
        Blob::random(2, 1000),
        Blob::random(3, 1000),
        Blob::random(4, 1000),
    );
    // Two images (a config and a layer each; the manifests are not counted).
    let mut source = CountingUpstream::default();
    source.image("team/app", &a, &b);
    source.image("other", &c, &d);
    let source = Arc::new(source);
    let mut route = UpstreamRoute::new("up", source.clone());
    route.max_size = Some(2500);
    let s = TestServer::with_upstreams(RegistryConfig::default(), Upstreams::new(vec![route])).await;
    for repo in ["up/team/app", "up/other"] {
        let response = s.get(&format!("/v2/{repo}/manifests/v1")).await;
        assert_eq!(response.status(), StatusCode::OK, "{repo}:v1");
    }

    // Cached in the order a, b (one repository of the prefix), c (another); then a
    // pulled again (from the cache), d last.
    pull(&s, "up/team/app", &a).await;
    pull(&s, "up/team/app", &b).await;
    pull(&s, "up/other", &c).await;
    pull(&s, "up/team/app", &a).await;
    pull(&s, "up/other", &d).await;
    assert_eq!(source.downloads(&a.digest), 1, "the second pull of a is from the cache");
    assert!(s.registry.pending_pulls() > 0, "a pull is noted in memory, not written");

    let reports = s.registry.evict_upstream_caches().await.unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!((report.prefix.as_str(), report.max_size), ("up", 2500));
    assert_eq!(report.cached_bytes, 4000);
    assert_eq!(
        report.evicted,
        [b.digest.clone(), c.digest.clone()],
        "least recently pulled first, until 2000 bytes <= 2500"
    );
    assert_eq!(report.evicted_bytes, 2000);
    assert_eq!(s.registry.pending_pulls(), 0, "the pulls were flushed before judging");

    let again = s.registry.evict_upstream_caches().await.unwrap();
    assert!(again[0].evicted.is_empty(), "under the limit now: {again:?}");

    let collected = s
        .registry
        .collect_garbage(&GcOptions {
            grace: Duration::ZERO,
            ..GcOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(collected.blobs.count, 2, "the collector reclaims the evicted bytes");
    assert_eq!(collected.blobs.bytes, 2000);

    pull(&s, "up/team/app", &b).await;
    pull(&s, "up/other", &c).await;
    pull(&s, "up/team/app", &a).await;
    assert_eq!(source.downloads(&b.digest), 2, "an evicted blob is fetched again");
    assert_eq!(source.downloads(&c.digest), 2);
    assert_eq!(source.downloads(&a.digest), 1, "a stayed cached");
    assert_eq!(source.downloads(&d.digest), 1, "d stayed cached");
}

#[tokio::test]
async fn a_prefix_without_max_size_is_never_evicted() {
    let a = Blob::random(5, 1000);
    let mut source = CountingUpstream::default();
    source
        .blobs
        .insert(a.digest.parse().unwrap(), Bytes::from(a.bytes.clone()));
    let route = UpstreamRoute::new("up", Arc::new(source));
    let s = TestServer::with_upstreams(RegistryConfig::default(), Upstreams::new(vec![route])).await;
    pull(&s, "up/app", &a).await;
    assert!(s.registry.evict_upstream_caches().await.unwrap().is_empty());
    let name: RepositoryName = "up/app".parse().unwrap();
    assert!(s.registry.blob(&name, &a.digest.parse().unwrap()).await.is_ok());
}
