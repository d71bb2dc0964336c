//! Metadata in memory: for tests, and the model to follow when writing an adapter.

use super::{ManifestRecord, MetaResult, MetaStore, Page, UploadSession};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Mutex;
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName, Tag};

#[derive(Default)]
struct State {
    repositories: BTreeSet<String>,
    links: HashMap<(String, Digest), u64>,
    manifests: HashMap<(String, Digest), ManifestRecord>,
    /// repository -> tag -> digest, sorted for listing.
    tags: HashMap<String, BTreeMap<String, Digest>>,
    uploads: HashMap<String, UploadSession>,
}

/// A [`MetaStore`] in process memory; one lock makes every call atomic.
#[derive(Default)]
pub struct MemoryMetaStore {
    state: Mutex<State>,
}

impl MemoryMetaStore {
    pub fn new() -> MemoryMetaStore {
        MemoryMetaStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> MetaResult<T> {
        Ok(f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner())))
    }
}

fn key(repo: &RepositoryName, digest: &Digest) -> (String, Digest) {
    (repo.to_string(), digest.clone())
}

/// One page of a sorted set of strings.
fn page<'a>(items: impl Iterator<Item = &'a String>, after: Option<&str>, limit: Option<usize>) -> Page {
    let mut items: Vec<String> = items
        .filter(|i| after.is_none_or(|a| i.as_str() > a))
        .cloned()
        .collect();
    let more = limit.is_some_and(|l| items.len() > l);
    if let Some(l) = limit {
        items.truncate(l);
    }
    Page { items, more }
}

#[async_trait]
impl MetaStore for MemoryMetaStore {
    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.with(|s| {
            s.repositories.insert(repo.to_string());
            s.links.insert(key(repo, digest), size);
        })
    }

    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<u64>> {
        self.with(|s| s.links.get(&key(repo, digest)).copied())
    }

    async fn linked_blobs(&self, repo: &RepositoryName, digests: &[Digest]) -> MetaResult<HashMap<Digest, u64>> {
        self.with(|s| {
            digests
                .iter()
                .filter_map(|d| s.links.get(&key(repo, d)).map(|size| (d.clone(), *size)))
                .collect()
        })
    }

    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        self.with(|s| s.links.remove(&key(repo, digest)).is_some())
    }

    async fn known_blob(&self, digest: &Digest) -> MetaResult<Option<u64>> {
        self.with(|s| s.links.iter().find(|((_, d), _)| d == digest).map(|(_, size)| *size))
    }

    async fn blob_is_linked_anywhere(&self, digest: &Digest) -> MetaResult<bool> {
        Ok(self.known_blob(digest).await?.is_some())
    }

    async fn put_manifest(&self, repo: &RepositoryName, m: &ManifestRecord, tags: &[Tag]) -> MetaResult<()> {
        self.with(|s| {
            s.repositories.insert(repo.to_string());
            s.links.insert(key(repo, &m.digest), m.size);
            s.manifests.insert(key(repo, &m.digest), m.clone());
            let repo_tags = s.tags.entry(repo.to_string()).or_default();
            for tag in tags {
                repo_tags.insert(tag.to_string(), m.digest.clone());
            }
        })
    }

    async fn manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<ManifestRecord>> {
        self.with(|s| s.manifests.get(&key(repo, digest)).cloned())
    }

    async fn tagged_manifest(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<Option<ManifestRecord>> {
        self.with(|s| {
            let digest = s.tags.get(repo.as_str())?.get(tag.as_str())?;
            s.manifests.get(&key(repo, digest)).cloned()
        })
    }

    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        self.with(|s| {
            if s.manifests.remove(&key(repo, digest)).is_none() {
                return false;
            }
            s.links.remove(&key(repo, digest));
            if let Some(tags) = s.tags.get_mut(repo.as_str()) {
                tags.retain(|_, d| d != digest);
            }
            true
        })
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        self.with(|s| {
            s.tags
                .get_mut(repo.as_str())
                .is_some_and(|t| t.remove(tag.as_str()).is_some())
        })
    }

    async fn list_tags(&self, repo: &RepositoryName, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        self.with(|s| match s.tags.get(repo.as_str()) {
            Some(tags) => {
                let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
                page(tags.range((start, Bound::Unbounded)).map(|(t, _)| t), None, limit)
            }
            None => Page {
                items: Vec::new(),
                more: false,
            },
        })
    }

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        self.with(|s| s.repositories.contains(repo.as_str()))
    }

    async fn list_repositories(&self, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        self.with(|s| page(s.repositories.iter(), after, limit))
    }

    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> MetaResult<Vec<ManifestRecord>> {
        self.with(|s| {
            let mut found: Vec<ManifestRecord> = s
                .manifests
                .iter()
                .filter(|((r, _), m)| {
                    r == repo.as_str()
                        && m.subject.as_ref() == Some(subject)
                        && artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t))
                })
                .map(|(_, m)| m.clone())
                .collect();
            found.sort_by(|a, b| a.digest.cmp(&b.digest));
            found
        })
    }

    async fn create_upload(&self, session: &UploadSession) -> MetaResult<()> {
        self.with(|s| {
            s.uploads.insert(session.id.clone(), session.clone());
        })
    }

    async fn upload(&self, id: &str) -> MetaResult<Option<UploadSession>> {
        self.with(|s| s.uploads.get(id).cloned())
    }

    async fn advance_upload(&self, session: &UploadSession, expected_offset: u64) -> MetaResult<bool> {
        self.with(|s| match s.uploads.get_mut(&session.id) {
            Some(current) if current.offset == expected_offset => {
                *current = session.clone();
                true
            }
            _ => false,
        })
    }

    async fn delete_upload(&self, id: &str) -> MetaResult<bool> {
        self.with(|s| s.uploads.remove(id).is_some())
    }

    async fn idle_uploads(&self, cutoff: SystemTime) -> MetaResult<Vec<String>> {
        self.with(|s| {
            s.uploads
                .values()
                .filter(|u| u.updated < cutoff)
                .map(|u| u.id.clone())
                .collect()
        })
    }
}
