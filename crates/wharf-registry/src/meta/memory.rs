//! Metadata in memory: for tests, and the model to follow when writing an adapter.

use super::{
    BlobClaim, Change, CollectionOutcome, CollectionRun, GcBlob, GcLink, GcManifest, GcSnapshot, Leased, Limits,
    ManifestRecord, MetaError, MetaResult, MetaStore, NewEvent, Page, Pull, Refusal, TagDetail, TagFilter,
    UploadSession, KEPT_COLLECTIONS,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Mutex;
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName, Tag};

mod outbox;

#[derive(Default)]
struct State {
    repositories: BTreeSet<String>,
    /// (repository, digest) -> (size, linked at).
    links: HashMap<(String, Digest), (u64, SystemTime)>,
    /// (repository, digest) -> last pull recorded, for links that exist (pruned of
    /// removed links at each record).
    pulled: HashMap<(String, Digest), SystemTime>,
    manifests: HashMap<(String, Digest), Stored>,
    /// repository -> tag -> digest, sorted for listing.
    tags: HashMap<String, BTreeMap<String, Digest>>,
    uploads: HashMap<String, UploadSession>,
    /// The fence: blobs whose bytes the store holds.
    blobs: HashMap<Digest, GcBlob>,
    /// (repository, tag) -> when the tag was last pushed.
    tag_pushed: HashMap<(String, String), SystemTime>,
    /// Garbage collections, oldest first.
    collections: Vec<CollectionRun>,
    /// Signed-out UI sessions -> when their cookie expires.
    revoked_sessions: HashMap<String, SystemTime>,
}

/// A manifest and what the collector needs of it.
struct Stored {
    record: ManifestRecord,
    created: SystemTime,
    references: Vec<Digest>,
}

impl State {
    /// Whether the blob may be linked: its row exists and is not being deleted.
    fn linkable(&self, digest: &Digest) -> MetaResult<()> {
        match self.blobs.get(digest) {
            Some(b) if !b.deleting => Ok(()),
            _ => Err(MetaError::refused(Refusal::BlobGone(digest.clone()))),
        }
    }

    fn is_tagged(&self, repo: &str, digest: &Digest) -> bool {
        self.tags.get(repo).is_some_and(|t| t.values().any(|d| d == digest))
    }

    /// Whether a manifest of `repo` requires `digest`.
    fn is_required(&self, repo: &str, digest: &Digest) -> bool {
        self.manifests
            .iter()
            .any(|((r, _), m)| r == repo && m.references.contains(digest))
    }

    /// Bytes of the distinct digests linked anywhere.
    fn total_usage(&self) -> u64 {
        let distinct: HashMap<&Digest, u64> = self.links.iter().map(|((_, d), (size, _))| (d, *size)).collect();
        distinct.values().sum()
    }

    fn repository_usage(&self, repo: &str) -> u64 {
        self.links
            .iter()
            .filter(|((r, _), _)| r == repo)
            .map(|(_, (size, _))| size)
            .sum()
    }

    /// Refused when linking `digest` into `repo` would pass `limits`.
    /// Links `digest` into `repo` (as new if it was), unless its bytes are gone or the
    /// link would pass `limits`.
    fn link(&mut self, repo: &RepositoryName, digest: &Digest, size: u64, limits: Limits) -> MetaResult<()> {
        self.linkable(digest)?;
        self.admit(repo, digest, size, limits)?;
        self.repositories.insert(repo.to_string());
        self.links.insert(key(repo, digest), (size, SystemTime::now()));
        Ok(())
    }

    fn admit(&self, repo: &RepositoryName, digest: &Digest, size: u64, limits: Limits) -> MetaResult<()> {
        if limits.is_none() {
            return Ok(());
        }
        let repo_usage = (limits.repository.is_some() && !self.links.contains_key(&key(repo, digest)))
            .then(|| self.repository_usage(repo.as_str()));
        let total_usage =
            (limits.total.is_some() && !self.links.keys().any(|(_, d)| d == digest)).then(|| self.total_usage());
        match super::quota::refusal_for(limits, size, repo_usage, total_usage) {
            Some(refusal) => Err(MetaError::refused(refusal)),
            None => Ok(()),
        }
    }

    fn remove_manifest(&mut self, repo: &str, digest: &Digest) -> bool {
        let k = (repo.to_string(), digest.clone());
        if self.manifests.remove(&k).is_none() {
            return false;
        }
        self.links.remove(&k);
        if let Some(tags) = self.tags.get_mut(repo) {
            tags.retain(|_, d| d != digest);
        }
        true
    }
}

/// A [`MetaStore`] in process memory; one lock makes every call atomic.
#[derive(Default)]
pub struct MemoryMetaStore {
    state: Mutex<State>,
    outbox: outbox::Outbox,
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
    async fn claim_blob(&self, digest: &Digest, size: u64) -> MetaResult<BlobClaim> {
        self.with(|s| match s.blobs.get_mut(digest) {
            Some(b) if b.deleting => BlobClaim::Deleting,
            Some(b) => {
                b.touched = SystemTime::now();
                BlobClaim::Held
            }
            None => {
                let row = GcBlob {
                    digest: digest.clone(),
                    size,
                    touched: SystemTime::now(),
                    deleting: false,
                };
                s.blobs.insert(digest.clone(), row);
                BlobClaim::New
            }
        })
    }

    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.link_blob_within(repo, digest, size, Limits::NONE).await
    }

    async fn link_blob_within(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        self.with(|s| s.link(repo, digest, size, limits))?
    }

    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<u64>> {
        self.with(|s| s.links.get(&key(repo, digest)).map(|l| l.0))
    }

    async fn linked_blobs(&self, repo: &RepositoryName, digests: &[Digest]) -> MetaResult<HashMap<Digest, u64>> {
        self.with(|s| {
            digests
                .iter()
                .filter_map(|d| s.links.get(&key(repo, d)).map(|l| (d.clone(), l.0)))
                .collect()
        })
    }

    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        self.with(|s| s.links.remove(&key(repo, digest)).is_some())
    }

    async fn known_blob(&self, digest: &Digest) -> MetaResult<Option<u64>> {
        self.with(|s| s.links.iter().find(|((_, d), _)| d == digest).map(|(_, l)| l.0))
    }

    async fn blob_is_linked_anywhere(&self, digest: &Digest) -> MetaResult<bool> {
        Ok(self.known_blob(digest).await?.is_some())
    }

    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        m: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
    ) -> MetaResult<()> {
        self.put_manifest_within(repo, m, tags, references, require_linked, &[], Limits::NONE)
            .await
    }

    async fn put_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        m: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
    ) -> MetaResult<()> {
        self.put_manifest_within(repo, m, tags, references, require_linked, fixed, Limits::NONE)
            .await
    }

    async fn put_manifest_within(
        &self,
        repo: &RepositoryName,
        m: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
        limits: Limits,
    ) -> MetaResult<()> {
        self.with(|s| {
            s.linkable(&m.digest)?;
            if require_linked {
                let missing: Vec<Digest> = references
                    .iter()
                    .filter(|d| !s.links.contains_key(&key(repo, d)))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    return Err(MetaError::refused(Refusal::ReferencesMissing(missing)));
                }
            }
            for tag in fixed {
                let current = s.tags.get(repo.as_str()).and_then(|t| t.get(tag.as_str()));
                if let Some(current) = current.filter(|d| **d != m.digest) {
                    return Err(MetaError::refused(Refusal::TagImmutable {
                        tag: tag.clone(),
                        current: current.clone(),
                    }));
                }
            }
            s.admit(repo, &m.digest, m.size, limits)?;
            let now = SystemTime::now();
            s.repositories.insert(repo.to_string());
            s.links.insert(key(repo, &m.digest), (m.size, now));
            let stored = Stored {
                record: m.clone(),
                created: now,
                references: references.to_vec(),
            };
            s.manifests.insert(key(repo, &m.digest), stored);
            let repo_tags = s.tags.entry(repo.to_string()).or_default();
            for tag in tags {
                repo_tags.insert(tag.to_string(), m.digest.clone());
            }
            for tag in tags {
                s.tag_pushed.insert((repo.to_string(), tag.to_string()), now);
            }
            Ok(())
        })?
    }

    async fn delete_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        fixed: TagFilter,
    ) -> MetaResult<bool> {
        self.with(|s| {
            let guarded = s
                .tags
                .get(repo.as_str())
                .and_then(|t| t.iter().find(|(name, d)| *d == digest && fixed(name)));
            if let Some((name, _)) = guarded {
                let tag = name.parse().map_err(MetaError::new)?;
                return Err(MetaError::refused(Refusal::TagImmutable {
                    tag,
                    current: digest.clone(),
                }));
            }
            Ok(s.remove_manifest(repo.as_str(), digest))
        })?
    }

    async fn delete_tag_at(&self, repo: &RepositoryName, tag: &Tag, digest: &Digest) -> MetaResult<bool> {
        self.with(|s| {
            let Some(tags) = s.tags.get_mut(repo.as_str()) else {
                return false;
            };
            if tags.get(tag.as_str()) != Some(digest) {
                return false;
            }
            tags.remove(tag.as_str());
            true
        })
    }

    async fn repository_usage(&self, repo: &RepositoryName) -> MetaResult<u64> {
        self.with(|s| s.repository_usage(repo.as_str()))
    }

    async fn total_usage(&self) -> MetaResult<u64> {
        self.with(|s| s.total_usage())
    }

    async fn complete_upload(&self, id: &str, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.complete_upload_within(id, repo, digest, size, Limits::NONE).await
    }

    async fn complete_upload_within(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        self.with(|s| {
            s.link(repo, digest, size, limits)?;
            s.uploads.remove(id);
            Ok(())
        })?
    }

    async fn manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<ManifestRecord>> {
        self.with(|s| s.manifests.get(&key(repo, digest)).map(|m| m.record.clone()))
    }

    async fn tagged_manifest(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<Option<ManifestRecord>> {
        self.with(|s| {
            let digest = s.tags.get(repo.as_str())?.get(tag.as_str())?;
            s.manifests.get(&key(repo, digest)).map(|m| m.record.clone())
        })
    }

    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        self.with(|s| s.remove_manifest(repo.as_str(), digest))
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
                .map(|((r, _), m)| (r, &m.record))
                .filter(|(r, m)| {
                    r.as_str() == repo.as_str()
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

    async fn gc_snapshot(&self) -> MetaResult<GcSnapshot> {
        self.with(|s| {
            let mut snapshot = GcSnapshot::default();
            for ((repo, digest), m) in &s.manifests {
                let repository: RepositoryName = repo.parse().expect("stored names are valid");
                for r in &m.references {
                    snapshot
                        .references
                        .push((repository.clone(), digest.clone(), r.clone()));
                }
                snapshot.manifests.push(GcManifest {
                    tagged: s.is_tagged(repo, digest),
                    repository,
                    digest: digest.clone(),
                    media_type: m.record.media_type.clone(),
                    size: m.record.size,
                    created: m.created,
                    subject: m.record.subject.clone(),
                    references_recorded: true,
                });
            }
            for (k, (size, created)) in &s.links {
                snapshot.links.push(GcLink {
                    repository: k.0.parse().expect("stored names are valid"),
                    digest: k.1.clone(),
                    size: *size,
                    created: *created,
                    pulled: s.pulled.get(k).copied(),
                });
            }
            snapshot.blobs = s.blobs.values().cloned().collect();
            snapshot
        })
    }

    async fn record_references(
        &self,
        repo: &RepositoryName,
        manifest: &Digest,
        references: &[Digest],
    ) -> MetaResult<()> {
        self.with(|s| {
            if let Some(m) = s.manifests.get_mut(&key(repo, manifest)) {
                m.references = references.to_vec();
            }
        })
    }

    async fn remove_unused_manifests(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        self.with(|s| {
            let mut removed = Vec::new();
            for (repo, digest) in manifests {
                let r = repo.as_str();
                let Some(m) = s.manifests.get(&key(repo, digest)) else {
                    continue;
                };
                let subject_held = m
                    .record
                    .subject
                    .as_ref()
                    .is_some_and(|subject| s.manifests.contains_key(&key(repo, subject)));
                let unused =
                    m.created < cutoff && !subject_held && !s.is_tagged(r, digest) && !s.is_required(r, digest);
                if unused && s.remove_manifest(r, digest) {
                    removed.push((repo.clone(), digest.clone()));
                }
            }
            removed
        })
    }

    async fn remove_unused_links(
        &self,
        links: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        self.with(|s| {
            let mut removed = Vec::new();
            for (repo, digest) in links {
                let k = key(repo, digest);
                let unused = s.links.get(&k).is_some_and(|(_, created)| *created < cutoff)
                    && !s.manifests.contains_key(&k)
                    && !s.is_required(repo.as_str(), digest);
                if unused {
                    s.links.remove(&k);
                    removed.push((repo.clone(), digest.clone()));
                }
            }
            removed
        })
    }

    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        self.with(|s| {
            let State { links, pulled, .. } = s;
            pulled.retain(|k, _| links.contains_key(k));
            for pull in pulls {
                let k = key(&pull.repository, &pull.digest);
                if links.contains_key(&k) {
                    let at = pulled.entry(k).or_insert(pull.at);
                    *at = (*at).max(pull.at);
                }
            }
        })
    }

    async fn mark_blobs_deleting(&self, digests: &[Digest], cutoff: SystemTime) -> MetaResult<Vec<Digest>> {
        self.with(|s| {
            let mut marked = Vec::new();
            for digest in digests {
                let linked = s.links.keys().any(|(_, d)| d == digest);
                let Some(b) = s.blobs.get_mut(digest) else { continue };
                if b.deleting || (b.touched < cutoff && !linked) {
                    b.deleting = true;
                    marked.push(digest.clone());
                }
            }
            marked
        })
    }

    async fn fence_stray_blobs(&self, blobs: &[(Digest, u64)]) -> MetaResult<Vec<Digest>> {
        self.with(|s| {
            let mut fenced = Vec::new();
            for (digest, size) in blobs {
                if s.blobs.contains_key(digest) {
                    continue;
                }
                let row = GcBlob {
                    digest: digest.clone(),
                    size: *size,
                    touched: SystemTime::now(),
                    deleting: true,
                };
                s.blobs.insert(digest.clone(), row);
                fenced.push(digest.clone());
            }
            fenced
        })
    }

    async fn forget_deleted_blobs(&self, digests: &[Digest]) -> MetaResult<()> {
        self.with(|s| {
            for digest in digests {
                if s.blobs.get(digest).is_some_and(|b| b.deleting) {
                    s.blobs.remove(digest);
                }
            }
        })
    }
    async fn apply_with_events(&self, change: Change<'_>, events: Vec<NewEvent>) -> MetaResult<bool> {
        self.apply_recorded(change, events).await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> MetaResult<()> {
        let _one_at_a_time = self.outbox.serial.lock().await;
        self.append_recorded(events);
        Ok(())
    }

    async fn outbox_lease(
        &self,
        endpoint: &str,
        holder: &str,
        lease_until: SystemTime,
        limit: usize,
    ) -> MetaResult<Leased> {
        Ok(self.lease_cursor(endpoint, holder, lease_until, limit))
    }

    async fn outbox_advance(&self, endpoint: &str, holder: &str, seq: u64) -> MetaResult<bool> {
        Ok(self.advance_cursor(endpoint, holder, seq))
    }

    async fn outbox_prune(&self, endpoints: &[String]) -> MetaResult<u64> {
        Ok(self.prune_outbox(endpoints))
    }

    async fn tag_details(&self, repo: &RepositoryName) -> MetaResult<Vec<TagDetail>> {
        self.with(|s| {
            let Some(tags) = s.tags.get(repo.as_str()) else {
                return Vec::new();
            };
            tags.iter()
                .filter_map(|(tag, digest)| {
                    let stored = s.manifests.get(&key(repo, digest))?;
                    Some(TagDetail {
                        tag: tag.clone(),
                        manifest: stored.record.clone(),
                        pushed: s.tag_pushed.get(&(repo.to_string(), tag.clone())).copied(),
                    })
                })
                .collect()
        })
    }

    async fn collection_started(&self, id: &str, started: SystemTime) -> MetaResult<()> {
        self.with(|s| {
            s.collections.push(CollectionRun {
                id: id.to_string(),
                started,
                ended: None,
            });
            let excess = s.collections.len().saturating_sub(KEPT_COLLECTIONS);
            s.collections.drain(..excess);
        })
    }

    async fn collection_ended(&self, id: &str, ended: SystemTime, outcome: &CollectionOutcome) -> MetaResult<()> {
        self.with(|s| {
            if let Some(run) = s.collections.iter_mut().find(|r| r.id == id) {
                run.ended = Some((ended, outcome.clone()));
            }
        })
    }

    async fn last_collection(&self) -> MetaResult<Option<CollectionRun>> {
        self.with(|s| s.collections.iter().max_by_key(|r| r.started).cloned())
    }

    async fn revoke_session(&self, id: &str, expires: SystemTime) -> MetaResult<()> {
        self.with(|s| {
            let now = SystemTime::now();
            s.revoked_sessions.retain(|_, until| *until > now);
            s.revoked_sessions.insert(id.to_string(), expires);
        })
    }

    async fn session_revoked(&self, id: &str) -> MetaResult<bool> {
        self.with(|s| s.revoked_sessions.contains_key(id))
    }
}
