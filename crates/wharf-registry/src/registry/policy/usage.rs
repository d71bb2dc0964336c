//! Storage usage per repository, from the metadata store (never by walking the blob
//! store): what `wharf du` prints and quotas are checked against.

use crate::registry::{Registry, RegistryResult};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The usage of one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepositoryUsage {
    pub repository: String,
    /// Blobs and manifests linked into it.
    pub blobs: u64,
    /// Their bytes, each blob once: what its quota counts.
    pub bytes: u64,
    /// Bytes of blobs no other repository links: what deleting the repository's
    /// content would free.
    pub exclusive_bytes: u64,
    /// Its quota, if one applies.
    pub limit: Option<u64>,
}

/// Usage of every repository, and of the registry as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub repositories: Vec<RepositoryUsage>,
    /// Bytes of the distinct blobs some repository links (each blob once in all).
    pub linked_bytes: u64,
    /// Bytes of every blob the store holds, linked or awaiting collection.
    pub stored_bytes: u64,
    pub stored_blobs: u64,
    /// The registry's total quota (against `linked_bytes`), if one is set.
    pub total_limit: Option<u64>,
}

impl Registry {
    /// Usage per repository and in all (see [`UsageReport`]), from one consistent read
    /// of the metadata store.
    pub async fn usage(&self) -> RegistryResult<UsageReport> {
        let snapshot = self.meta.gc_snapshot().await?;
        let mut linkers: HashMap<&wharf_oci::Digest, (u32, u64)> = HashMap::new();
        for link in &snapshot.links {
            let entry = linkers.entry(&link.digest).or_insert((0, link.size));
            entry.0 += 1;
        }
        let mut per_repo: BTreeMap<String, RepositoryUsage> = BTreeMap::new();
        for link in &snapshot.links {
            let name = link.repository.to_string();
            let usage = per_repo.entry(name.clone()).or_insert_with(|| RepositoryUsage {
                repository: name,
                limit: self.config.policies.quota_for(&link.repository).map(|q| q.limit),
                ..RepositoryUsage::default()
            });
            usage.blobs += 1;
            usage.bytes += link.size;
            if linkers.get(&link.digest).is_some_and(|(n, _)| *n == 1) {
                usage.exclusive_bytes += link.size;
            }
        }
        let live = snapshot.blobs.iter().filter(|b| !b.deleting);
        let (stored_blobs, stored_bytes) = live.fold((0, 0), |(n, b), blob| (n + 1, b + blob.size));
        Ok(UsageReport {
            repositories: per_repo.into_values().collect(),
            linked_bytes: linkers.values().map(|(_, size)| size).sum(),
            stored_bytes,
            stored_blobs,
            total_limit: self.config.policies.total_quota,
        })
    }
}
