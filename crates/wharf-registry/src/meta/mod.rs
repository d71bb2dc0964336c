//! Metadata: the [`MetaStore`] trait and its adapters.
//!
//! The metadata store says what each repository holds (which blobs are linked into it,
//! its manifests and tags) and keeps upload sessions, so that any replica can continue
//! an upload another one started. It never sees blob bytes.

mod browse;
mod collections;
mod gc;
mod lease;
mod lifecycle;
mod memory;
mod outbox;
mod pulls;
// The PostgreSQL metadata store, only in a build with the `postgres` feature.
#[cfg(feature = "postgres")]
mod postgres;
mod quota;
mod sqlite;
mod unsupported;

pub use browse::{page_of_tags, ManifestDetail, RepositorySummary, TagCursor, TagDetail, TagOrder};
pub use collections::{CollectionOutcome, CollectionRun, KEPT_COLLECTIONS};
pub use gc::{BlobClaim, GcBlob, GcLink, GcManifest, GcSnapshot, Refusal};
pub use lease::{LeaseAttempt, LeaseRenewal, LEASE_TTL};
pub use lifecycle::TagFilter;
pub use memory::MemoryMetaStore;
pub(crate) use outbox::apply as outbox_apply;
pub use outbox::{Change, Condition, Leased, NewEvent, OutboxEvent};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresLoginLimits, PostgresMetaStore};
pub use pulls::Pull;
pub use quota::{quota_refusal, Limits, QuotaScope};
pub use sqlite::SqliteMetaStore;
pub use unsupported::Unsupported;

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;
use wharf_oci::{Algorithm, Digest, RepositoryName, Tag};

/// A failure of the metadata backend (I/O, database), never of the client's input.
#[derive(Debug, thiserror::Error)]
#[error("metadata store: {0}")]
pub struct MetaError(pub Box<dyn std::error::Error + Send + Sync>);

impl MetaError {
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> MetaError {
        MetaError(e.into())
    }

    /// Whether the backend failed because its disk is full (an I/O error of kind
    /// `StorageFull`, SQLite's SQLITE_FULL), anywhere in the error's chain: the registry
    /// answers that with 507 rather than as an internal error.
    pub fn is_out_of_space(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self.0.as_ref());
        while let Some(e) = cause {
            let full = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull)
                || e.downcast_ref::<crate::sqlite::WriteError>()
                    .is_some_and(|e| e.is_out_of_space())
                || e.downcast_ref::<rusqlite::Error>()
                    .is_some_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull));
            if full {
                return true;
            }
            cause = e.source();
        }
        false
    }

    /// A change the store refused for a reason the protocol answers (see [`Refusal`]).
    pub fn refused(refusal: Refusal) -> MetaError {
        MetaError(Box::new(refusal))
    }

    /// Why the store refused the change, when it did rather than failing.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.0.downcast_ref::<Refusal>()
    }

    /// The answer of an optional call the store does not implement (see [`Unsupported`]).
    pub fn unsupported(what: &'static str) -> MetaError {
        MetaError(Box::new(Unsupported(what)))
    }

    /// Whether the store does not support the call, rather than failing it.
    pub fn is_unsupported(&self) -> bool {
        self.0.downcast_ref::<Unsupported>().is_some()
    }
}

pub type MetaResult<T> = Result<T, MetaError>;

/// What the registry records about a stored manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// `artifactType`, or for an image manifest without one its config's media type.
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An unfinished blob upload.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadSession {
    pub id: String,
    pub repository: RepositoryName,
    /// Bytes received so far.
    pub offset: u64,
    pub algorithm: Algorithm,
    /// The hasher's saved state after `offset` bytes.
    pub hasher_state: Vec<u8>,
    /// Last time the session moved; idle sessions expire from here.
    pub updated: SystemTime,
}

/// One page of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    /// Whether entries follow the last one returned.
    pub more: bool,
}

/// Where metadata lives.
///
/// Contract every adapter keeps (and the checks of `testkit::meta_store_contract`, behind the
/// `testkit` feature, check, on the built-in adapters and on yours):
/// - each call is atomic: a manifest and its tags and links appear together or not;
/// - listings are in byte ("ASCIIbetical") order, `after` exclusive;
/// - a repository exists once something was linked or pushed into it;
/// - a blob can be linked (or be a pushed manifest) only while its row, made by
///   [`MetaStore::claim_blob`], exists and is not being deleted: otherwise the call is
///   refused with [`Refusal::BlobGone`] and changes nothing. This is the fence that
///   makes garbage collection safe while pushes go on (see [`GcSnapshot`]).
///
/// Calls with a default are optional. Most defaults are made of the required calls;
/// those of the web UI's records have nothing to make them of: the collection record
/// ([`MetaStore::collection_started`], [`MetaStore::collection_ended`]) and signed-out
/// sessions ([`MetaStore::revoke_session`]) answer [`MetaError::is_unsupported`], and
/// the default tags of [`MetaStore::tag_page`] carry no push time (so their push order
/// is by name). The contract checks skip what a store says it does not support this
/// way, and check it fully where the store implements it.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Records that the blob store holds (or is about to hold) the bytes of `digest`,
    /// and that a push wants them now: the collector leaves a blob claimed within its
    /// grace period alone. Called before bytes are committed under a digest.
    async fn claim_blob(&self, digest: &Digest, size: u64) -> MetaResult<BlobClaim>;

    /// Records that `repo` may serve blob `digest` of `size` bytes (a link made again is
    /// as new). Refused ([`Refusal::BlobGone`]) unless the blob's row exists and is not
    /// being deleted.
    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()>;

    /// The blob's size if it is linked into `repo`.
    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<u64>>;

    /// Sizes of those of `digests` that are linked into `repo`.
    async fn linked_blobs(&self, repo: &RepositoryName, digests: &[Digest]) -> MetaResult<HashMap<Digest, u64>>;

    /// Removes the link; `false` if there was none.
    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool>;

    /// The size of `digest` if any repository links it.
    async fn known_blob(&self, digest: &Digest) -> MetaResult<Option<u64>>;

    /// Whether any repository still links `digest` (a blob nobody links may be removed).
    async fn blob_is_linked_anywhere(&self, digest: &Digest) -> MetaResult<bool>;

    /// Stores a manifest record with the digests it requires (`references`: config,
    /// layers, child manifests; not its subject), links its bytes into `repo`, and points
    /// `tags` at it. With `require_linked`, refused ([`Refusal::ReferencesMissing`])
    /// unless every reference is linked in `repo` at commit; refused
    /// ([`Refusal::BlobGone`]) unless the manifest's own blob row exists, not deleting.
    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
    ) -> MetaResult<()>;

    /// The manifest `digest` of `repo`.
    async fn manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<ManifestRecord>>;

    /// The manifest `tag` of `repo` points at.
    async fn tagged_manifest(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<Option<ManifestRecord>>;

    /// Removes a manifest, every tag pointing at it and its link; `false` if absent.
    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool>;

    /// Removes a tag; `false` if absent.
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool>;

    /// Tags of `repo` after `after`, at most `limit` (all when `None`).
    async fn list_tags(&self, repo: &RepositoryName, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page>;

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool>;

    /// Repository names after `after`, at most `limit` (all when `None`).
    async fn list_repositories(&self, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page>;

    /// Manifests of `repo` whose subject is `subject`, optionally of one artifact type.
    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> MetaResult<Vec<ManifestRecord>>;

    async fn create_upload(&self, session: &UploadSession) -> MetaResult<()>;

    async fn upload(&self, id: &str) -> MetaResult<Option<UploadSession>>;

    /// Moves a session from `expected_offset` to `session.offset` with its new hasher
    /// state; `false` (and no change) if its offset was no longer `expected_offset`.
    async fn advance_upload(&self, session: &UploadSession, expected_offset: u64) -> MetaResult<bool>;

    /// Removes a session; `false` if absent.
    async fn delete_upload(&self, id: &str) -> MetaResult<bool>;

    /// Links the blob an upload produced into `repo` and removes the session, in one
    /// commit where the adapter can (the default makes the two calls).
    async fn complete_upload(&self, id: &str, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.link_blob(repo, digest, size).await?;
        self.delete_upload(id).await?;
        Ok(())
    }

    /// Ids of sessions idle since before `cutoff`.
    async fn idle_uploads(&self, cutoff: SystemTime) -> MetaResult<Vec<String>>;

    // Upload leases (see the `lease` module): what keeps requests on one session apart
    // across processes. A store only one process uses may keep these defaults, since
    // the registry's in-process lock already keeps them apart; a store that replicas
    // share (PostgreSQL) implements them.

    /// Takes the lease of session `id` for `holder` for `ttl` (by the store's clock),
    /// if it is free, lapsed or `holder`'s already; else records that it is wanted.
    async fn take_upload_lease(&self, _id: &str, _holder: &str, _ttl: std::time::Duration) -> MetaResult<LeaseAttempt> {
        Ok(LeaseAttempt::Taken)
    }

    /// Extends `holder`'s lease of `id` by `ttl` from now, if it still holds it.
    async fn renew_upload_lease(
        &self,
        _id: &str,
        _holder: &str,
        _ttl: std::time::Duration,
    ) -> MetaResult<LeaseRenewal> {
        Ok(LeaseRenewal::Kept { wanted: false })
    }

    /// Frees `holder`'s lease of `id` (nothing if it holds none).
    async fn release_upload_lease(&self, _id: &str, _holder: &str) -> MetaResult<()> {
        Ok(())
    }

    /// [`MetaStore::advance_upload`], only while `holder` holds the session's lease
    /// (`None`: while nobody does, for a session no client has seen yet): the fence that
    /// keeps a request whose lease lapsed from recording its chunk over another's.
    async fn advance_leased_upload(
        &self,
        session: &UploadSession,
        expected_offset: u64,
        _holder: Option<&str>,
    ) -> MetaResult<bool> {
        self.advance_upload(session, expected_offset).await
    }

    // Garbage collection. Each call is one transaction that re-checks, per item, the
    // condition under which the item may go; items that no longer qualify are skipped.
    // Each returns the items it acted on.

    /// What the collector decides from, read consistently.
    async fn gc_snapshot(&self) -> MetaResult<GcSnapshot>;

    /// Records the references of a manifest stored before they were recorded.
    async fn record_references(
        &self,
        repo: &RepositoryName,
        manifest: &Digest,
        references: &[Digest],
    ) -> MetaResult<()>;

    /// Removes each manifest (record, references, link) that, at commit, was created
    /// before `cutoff`, has no tag, is required by no other manifest of its repository,
    /// and has no subject or one its repository no longer holds. In order: removing an
    /// index first frees its children later in the same list.
    async fn remove_unused_manifests(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>>;

    /// Removes each link that, at commit, was made before `cutoff` and that no manifest
    /// of its repository requires nor is.
    /// [`Self::remove_unused_manifests`] that also appends to the outbox, in the same
    /// transaction, `events[i]` for each `manifests[i]` it removed (and nothing for the
    /// others), in the order of `manifests`: the collector's removals are announced
    /// exactly when they commit. The events' conditions are not judged (the removal is
    /// their condition). The default is correct within one process but not atomic (see
    /// [`Self::apply_with_events`]); the built-in stores override it.
    async fn remove_unused_manifests_with_events(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
        events: Vec<Vec<NewEvent>>,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        // A store without an outbox refuses before removing anything.
        self.append_events(Vec::new()).await?;
        let removed = self.remove_unused_manifests(manifests, cutoff).await?;
        let held: Vec<NewEvent> = outbox::events_of_removed(manifests, &events, &removed)
            .into_iter()
            .cloned()
            .collect();
        if !held.is_empty() {
            self.append_events(held).await?;
        }
        Ok(removed)
    }

    async fn remove_unused_links(
        &self,
        links: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>>;

    /// Marks deleting each blob row that, at commit, no repository links and no push
    /// claimed since `cutoff` (rows marked already stay marked and are returned).
    async fn mark_blobs_deleting(&self, digests: &[Digest], cutoff: SystemTime) -> MetaResult<Vec<Digest>>;

    /// Inserts a row marked deleting for each digest that has none (bytes the store
    /// holds that no row accounts for); returns those inserted.
    async fn fence_stray_blobs(&self, blobs: &[(Digest, u64)]) -> MetaResult<Vec<Digest>>;

    /// Removes the rows of blobs marked deleting, once their bytes are gone.
    async fn forget_deleted_blobs(&self, digests: &[Digest]) -> MetaResult<()>;

    /// Records pull times (see [`Pull`]), all in one write: each link (repository,
    /// digest) that exists takes the later of its recorded pull time and the pull's;
    /// pulls of links that are gone are ignored. [`MetaStore::gc_snapshot`] returns the
    /// times in [`GcLink::pulled`]. The registry calls this from its background work,
    /// never on a request's path.
    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()>;

    // Storage lifecycle: immutable tags, retention and quotas. Each has a default made
    // of the calls above, which is correct but not atomic; an adapter that can should
    // override it with one transaction (the built-in ones do).

    /// [`MetaStore::put_manifest`], refused ([`Refusal::TagImmutable`]) when one of
    /// `fixed` (tags of `tags` that must never move) already points at another manifest
    /// of `repo`, checked in the transaction that moves the tags. Pointing a fixed tag
    /// at the manifest it names already is fine.
    async fn put_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
    ) -> MetaResult<()> {
        for tag in fixed {
            if let Some(current) = self.tagged_manifest(repo, tag).await? {
                if current.digest != manifest.digest {
                    return Err(MetaError::refused(Refusal::TagImmutable {
                        tag: tag.clone(),
                        current: current.digest,
                    }));
                }
            }
        }
        self.put_manifest(repo, manifest, tags, references, require_linked)
            .await
    }

    /// [`MetaStore::delete_manifest`], refused ([`Refusal::TagImmutable`]) when a tag
    /// `fixed` accepts points at the manifest at commit (deleting the manifest would
    /// delete that tag).
    async fn delete_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        fixed: TagFilter,
    ) -> MetaResult<bool> {
        let tags = self.list_tags(repo, None, None).await?;
        for name in tags.items.iter().filter(|t| fixed(t)) {
            let Ok(tag) = name.parse::<Tag>() else { continue };
            if self
                .tagged_manifest(repo, &tag)
                .await?
                .is_some_and(|m| &m.digest == digest)
            {
                return Err(MetaError::refused(Refusal::TagImmutable {
                    tag,
                    current: digest.clone(),
                }));
            }
        }
        self.delete_manifest(repo, digest).await
    }

    /// Removes `tag` only if it still points at `digest` (a tag moved since the caller
    /// looked is left alone); `false` if it did not.
    async fn delete_tag_at(&self, repo: &RepositoryName, tag: &Tag, digest: &Digest) -> MetaResult<bool> {
        match self.tagged_manifest(repo, tag).await? {
            Some(m) if &m.digest == digest => self.delete_tag(repo, tag).await,
            _ => Ok(false),
        }
    }

    /// Bytes linked into `repo`: the sum of the sizes of its links (blobs and
    /// manifests), each blob once. What quotas are checked against.
    async fn repository_usage(&self, repo: &RepositoryName) -> MetaResult<u64> {
        let snapshot = self.gc_snapshot().await?;
        Ok(snapshot
            .links
            .iter()
            .filter(|l| &l.repository == repo)
            .map(|l| l.size)
            .sum())
    }

    // Quotas checked in the transaction that links (see [`Limits`]). The defaults check
    // with separate reads and then link, which is exact only while nothing else links
    // meanwhile; the built-in adapters override them with one transaction each, which
    // concurrent pushes cannot together take past a limit.

    /// Bytes of the distinct digests some repository links (each blob once in all):
    /// what the registry's total quota is checked against.
    async fn total_usage(&self) -> MetaResult<u64> {
        let snapshot = self.gc_snapshot().await?;
        let distinct: HashMap<&Digest, u64> = snapshot.links.iter().map(|l| (&l.digest, l.size)).collect();
        Ok(distinct.values().sum())
    }

    /// [`MetaStore::link_blob`], refused ([`Refusal::OverQuota`], changing nothing)
    /// when the new link would take usage over `limits`.
    async fn link_blob_within(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        if let Some(refusal) = quota_refusal(self, repo, Some(digest), size, limits).await? {
            return Err(MetaError::refused(refusal));
        }
        self.link_blob(repo, digest, size).await
    }

    /// [`MetaStore::complete_upload`], refused ([`Refusal::OverQuota`], changing
    /// nothing: the session stays) when the link would take usage over `limits`.
    async fn complete_upload_within(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        if let Some(refusal) = quota_refusal(self, repo, Some(digest), size, limits).await? {
            return Err(MetaError::refused(refusal));
        }
        self.complete_upload(id, repo, digest, size).await
    }

    /// [`MetaStore::put_manifest_fixed_tags`], refused ([`Refusal::OverQuota`],
    /// changing nothing) when linking the manifest's own bytes would take usage over
    /// `limits` (its references are linked already, or it is refused for them).
    #[allow(clippy::too_many_arguments)]
    async fn put_manifest_within(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
        limits: Limits,
    ) -> MetaResult<()> {
        if let Some(refusal) = quota_refusal(self, repo, Some(&manifest.digest), manifest.size, limits).await? {
            return Err(MetaError::refused(refusal));
        }
        self.put_manifest_fixed_tags(repo, manifest, tags, references, require_linked, fixed)
            .await
    }

    // Browsing (the web UI). The defaults are made of the calls above, one per tag;
    // the built-in SQLite store answers each with one query.

    /// Every tag of `repo` with its manifest (in tag order).
    async fn tag_details(&self, repo: &RepositoryName) -> MetaResult<Vec<TagDetail>> {
        let tags = self.list_tags(repo, None, None).await?;
        let mut details = Vec::with_capacity(tags.items.len());
        for name in tags.items {
            let Ok(tag) = name.parse::<Tag>() else { continue };
            if let Some(manifest) = self.tagged_manifest(repo, &tag).await? {
                details.push(TagDetail {
                    tag: name,
                    manifest,
                    pushed: None,
                });
            }
        }
        Ok(details)
    }

    /// One page of `repo`'s tags with their manifests, in `order`, starting after
    /// `after` (from the first when `None`), at most `limit`. The built-in relational
    /// stores seek an index to the cursor, so every page costs what the first does; the
    /// default sorts [`MetaStore::tag_details`].
    async fn tag_page(
        &self,
        repo: &RepositoryName,
        order: TagOrder,
        after: Option<&TagCursor>,
        limit: usize,
    ) -> MetaResult<Vec<TagDetail>> {
        Ok(page_of_tags(self.tag_details(repo).await?, order, after, limit))
    }

    /// The manifests of `repo` no tag points at (referrers and an index's children
    /// among them).
    async fn untagged_manifests(&self, repo: &RepositoryName) -> MetaResult<Vec<ManifestDetail>> {
        let snapshot = self.gc_snapshot().await?;
        let mut found = Vec::new();
        for m in snapshot.manifests.iter().filter(|m| &m.repository == repo && !m.tagged) {
            if let Some(manifest) = self.manifest(repo, &m.digest).await? {
                found.push(ManifestDetail {
                    manifest,
                    pushed: Some(m.created),
                });
            }
        }
        Ok(found)
    }

    /// The number of tags of `repo` and its last push.
    async fn repository_summary(&self, repo: &RepositoryName) -> MetaResult<RepositorySummary> {
        let tags = self.list_tags(repo, None, None).await?;
        Ok(RepositorySummary {
            tags: tags.items.len() as u64,
            last_push: None,
        })
    }

    // The garbage collector's record (see [`CollectionRun`]): what the web UI shows,
    // whichever process collected. Optional: the defaults keep nothing and say so
    // ([`MetaError::is_unsupported`]; the collector then collects without a record),
    // and a store without them shows no collection.

    /// Records that collection `id` began at `started` (and forgets all but the last
    /// [`KEPT_COLLECTIONS`]).
    async fn collection_started(&self, id: &str, started: SystemTime) -> MetaResult<()> {
        let _ = (id, started);
        Err(MetaError::unsupported("record garbage collections"))
    }

    /// Records how collection `id` ended.
    async fn collection_ended(&self, id: &str, ended: SystemTime, outcome: &CollectionOutcome) -> MetaResult<()> {
        let _ = (id, ended, outcome);
        Err(MetaError::unsupported("record garbage collections"))
    }

    /// The collection begun last, ended or not.
    async fn last_collection(&self) -> MetaResult<Option<CollectionRun>> {
        Ok(None)
    }

    // Web UI sessions signed out: a session cookie is signed, not stored, so signing
    // out records the session's id until the cookie would have expired, and every UI
    // request on any replica checks it. Optional: a store without these refuses to
    // sign out (the default answers [`MetaError::is_unsupported`]), rather than let a
    // copied cookie live on.

    /// Records that the UI session `id` is signed out; the record may be dropped after
    /// `expires`, when the cookie is refused anyway.
    async fn revoke_session(&self, id: &str, expires: SystemTime) -> MetaResult<()> {
        let _ = (id, expires);
        Err(MetaError::unsupported("record signed-out sessions"))
    }

    /// Whether the UI session `id` was signed out.
    async fn session_revoked(&self, id: &str) -> MetaResult<bool> {
        let _ = id;
        Ok(false)
    }

    /// Whether the store answers now, for the server's readiness probe (`/readyz`).
    /// Cheap: it is called at most about once a second, under a short timeout. The
    /// default is a read (is some digest known?), which every adapter can answer;
    /// adapters that can also prove they take writes without leaving anything behind
    /// (the SQLite store writes and removes a row in one transaction) override it.
    async fn check_ready(&self) -> MetaResult<()> {
        let probe: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .map_err(|_| MetaError::new("the probe digest does not parse"))?;
        self.known_blob(&probe).await.map(|_| ())
    }

    // Event notifications (see `crate::events`): changes applied with the events that
    // describe them, and the outbox. The defaults are correct within one process but
    // not atomic (a crash between the change and the append loses its events); the
    // built-in stores override them with one transaction. An adapter that keeps no
    // outbox fails the outbox calls, so a registry with events on refuses its writes
    // (before changing anything) rather than forgetting their events.

    /// Applies `change` and appends to the outbox those of `events` whose condition
    /// held before the change, if the change did something. Answers what the change's
    /// own call answers (`true` for calls that answer nothing).
    async fn apply_with_events(&self, change: Change<'_>, events: Vec<NewEvent>) -> MetaResult<bool> {
        // A store without an outbox refuses before changing anything.
        self.append_events(Vec::new()).await?;
        let mut held = Vec::new();
        for event in events {
            if outbox::holds(self, &change, &event.condition).await? {
                held.push(event);
            }
        }
        let changed = outbox::apply(self, change).await?;
        if changed && !held.is_empty() {
            self.append_events(held).await?;
        }
        Ok(changed)
    }

    /// Appends events to the outbox, after every event already in it.
    async fn append_events(&self, events: Vec<NewEvent>) -> MetaResult<()> {
        let _ = events;
        Err(outbox::no_outbox())
    }

    /// Takes (or renews) the lease on `endpoint`'s cursor for `holder` until
    /// `lease_until`, unless another holder's lease runs still, and returns up to `limit`
    /// events after the cursor, in order. A cursor is made at the start of the outbox
    /// the first time an endpoint is leased.
    async fn outbox_lease(
        &self,
        endpoint: &str,
        holder: &str,
        lease_until: SystemTime,
        limit: usize,
    ) -> MetaResult<Leased> {
        let _ = (endpoint, holder, lease_until, limit);
        Err(outbox::no_outbox())
    }

    /// Moves `endpoint`'s cursor to `seq` (never back) if `holder` still holds its
    /// lease; `false` otherwise (another dispatcher took over: stop and lease again).
    async fn outbox_advance(&self, endpoint: &str, holder: &str, seq: u64) -> MetaResult<bool> {
        let _ = (endpoint, holder, seq);
        Err(outbox::no_outbox())
    }

    /// Removes the events every one of `endpoints` has passed (none while one of them has
    /// no cursor yet); returns how many.
    async fn outbox_prune(&self, endpoints: &[String]) -> MetaResult<u64> {
        let _ = endpoints;
        Err(outbox::no_outbox())
    }
}
