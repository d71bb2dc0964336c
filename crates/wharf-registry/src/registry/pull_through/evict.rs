//! The size limit of an upstream's cache (`max_size`): when the blobs cached under its
//! prefix take more bytes than that, the least recently pulled are unlinked from the
//! prefix's repositories until they fit, and the garbage collector then removes their
//! bytes like any unlinked blob's.
//!
//! - A blob's bytes are counted once however many repositories of the prefix link it;
//!   manifests are not counted and never evicted (they are small, and a cached manifest
//!   whose layers were evicted is still served: its layers are fetched again).
//! - "Least recently pulled" is the later of the blob's last pull (see
//!   [`crate::meta::Pull`]; the pulls of this process are flushed first) and when it
//!   was cached, over every repository of the prefix that links it.
//! - A blob evicted is unknown to the prefix from then on: the next pull fetches it from
//!   the upstream again and caches it anew. A pull that races with the eviction (between
//!   the read of the pull times and the unlink) is served, and its blob fetched again
//!   by the pull after.

use super::super::{Registry, RegistryResult};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName};

/// What one eviction pass did for one upstream's prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvictionReport {
    pub prefix: String,
    pub max_size: u64,
    /// Bytes of the blobs cached under the prefix before the pass.
    pub cached_bytes: u64,
    /// The digests unlinked, least recently pulled first.
    pub evicted: Vec<String>,
    pub evicted_bytes: u64,
}

/// One blob cached under a prefix.
struct Cached<'a> {
    digest: &'a Digest,
    size: u64,
    last_used: SystemTime,
    repositories: Vec<&'a RepositoryName>,
}

/// What one pass would do for one prefix: its report, and the links to remove.
struct Planned {
    report: EvictionReport,
    unlinks: Vec<(RepositoryName, Digest)>,
}

impl Registry {
    /// Brings every upstream cache that has a `max_size` under it (see [`self`]); one
    /// report per such upstream. The collector's job runs it before each collection,
    /// and so does `wharf gc`.
    pub async fn evict_upstream_caches(&self) -> RegistryResult<Vec<EvictionReport>> {
        let plans = self.plan_eviction().await?;
        let mut reports = Vec::with_capacity(plans.len());
        for plan in plans {
            for (repo, digest) in &plan.unlinks {
                self.meta.unlink_blob(repo, digest).await?;
            }
            let report = plan.report;
            if !report.evicted.is_empty() {
                tracing::info!(
                    prefix = %report.prefix,
                    evicted = report.evicted.len(),
                    bytes = report.evicted_bytes,
                    max_size = report.max_size,
                    "upstream cache over its max_size: least recently pulled blobs evicted"
                );
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// What [`Registry::evict_upstream_caches`] would evict now, evicting nothing (a dry
    /// run's answer).
    pub async fn plan_upstream_eviction(&self) -> RegistryResult<Vec<EvictionReport>> {
        Ok(self.plan_eviction().await?.into_iter().map(|p| p.report).collect())
    }

    /// For each upstream with a `max_size`, the least recently pulled blobs to unlink
    /// until its cache fits.
    async fn plan_eviction(&self) -> RegistryResult<Vec<Planned>> {
        let limited: Vec<_> = self
            .upstreams
            .routes()
            .iter()
            .filter_map(|r| r.max_size.map(|max| (r.prefix.clone(), max)))
            .collect();
        if limited.is_empty() {
            return Ok(Vec::new());
        }
        // The pulls this process served count too.
        if let Err(e) = self.flush_pulls().await {
            tracing::warn!("pull times not written before cache eviction: {}", e.message);
        }
        let snapshot = self.meta.gc_snapshot().await?;
        let manifests: HashSet<(&RepositoryName, &Digest)> =
            snapshot.manifests.iter().map(|m| (&m.repository, &m.digest)).collect();
        let mut plans = Vec::new();
        for (prefix, max_size) in limited {
            let under = |repo: &RepositoryName| {
                self.upstreams
                    .route(repo)
                    .is_some_and(|(route, _)| route.prefix == prefix)
            };
            let mut cached: HashMap<&Digest, Cached> = HashMap::new();
            for link in &snapshot.links {
                if !under(&link.repository) || manifests.contains(&(&link.repository, &link.digest)) {
                    continue;
                }
                let entry = cached.entry(&link.digest).or_insert_with(|| Cached {
                    digest: &link.digest,
                    size: link.size,
                    last_used: link.last_used(),
                    repositories: Vec::new(),
                });
                entry.last_used = entry.last_used.max(link.last_used());
                entry.repositories.push(&link.repository);
            }
            let cached_bytes: u64 = cached.values().map(|c| c.size).sum();
            let mut plan = Planned {
                report: EvictionReport {
                    prefix: prefix.clone(),
                    max_size,
                    cached_bytes,
                    ..EvictionReport::default()
                },
                unlinks: Vec::new(),
            };
            let mut oldest_first: Vec<Cached> = cached.into_values().collect();
            oldest_first.sort_by(|a, b| a.last_used.cmp(&b.last_used).then_with(|| a.digest.cmp(b.digest)));
            let mut bytes = cached_bytes;
            for blob in oldest_first {
                if bytes <= max_size {
                    break;
                }
                for repo in &blob.repositories {
                    plan.unlinks.push(((*repo).clone(), blob.digest.clone()));
                }
                bytes -= blob.size;
                plan.report.evicted.push(blob.digest.to_string());
                plan.report.evicted_bytes += blob.size;
            }
            plans.push(plan);
        }
        Ok(plans)
    }
}
