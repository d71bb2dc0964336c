//! What the metadata store is told of event notifications: changes to apply together
//! with the events that describe them, and the outbox the dispatcher reads.
//!
//! The protocol layer states what it is about to do ([`Change`]) and the events that
//! would describe it ([`NewEvent`], each with the [`Condition`] under which it holds,
//! e.g. "the tag did not exist yet"); the store evaluates the conditions and applies the
//! change in one transaction, and appends the events that held to the outbox only when
//! the change did something. The bodies are opaque to the store: it never reads them.
//!
//! The outbox is read per endpoint: each endpoint has a cursor (the last sequence
//! number it has been given) and a lease, so that among several replicas one delivers
//! to a given endpoint at a time, and one endpoint's outage holds back no other.

use super::TagFilter;
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName, Tag};

/// A change the store applies together with its events (each maps onto a
/// [`super::MetaStore`] call of the same name).
#[derive(Clone)]
pub enum Change<'a> {
    /// [`super::MetaStore::put_manifest_within`].
    PutManifest {
        repo: &'a RepositoryName,
        manifest: &'a super::ManifestRecord,
        tags: &'a [Tag],
        references: &'a [Digest],
        require_linked: bool,
        fixed: &'a [Tag],
        /// The quotas the push must stay within (see [`super::MetaStore::put_manifest_within`]).
        limits: super::Limits,
    },
    /// [`super::MetaStore::delete_manifest`], or with `fixed`
    /// [`super::MetaStore::delete_manifest_fixed_tags`].
    DeleteManifest {
        repo: &'a RepositoryName,
        digest: &'a Digest,
        fixed: Option<TagFilter>,
    },
    /// [`super::MetaStore::delete_tag`], or with `at` [`super::MetaStore::delete_tag_at`]
    /// (only while the tag still points at that manifest: retention's removal).
    DeleteTag {
        repo: &'a RepositoryName,
        tag: &'a Tag,
        at: Option<&'a Digest>,
    },
    /// [`super::MetaStore::unlink_blob`].
    UnlinkBlob {
        repo: &'a RepositoryName,
        digest: &'a Digest,
    },
    /// [`super::MetaStore::link_blob_within`].
    LinkBlob {
        repo: &'a RepositoryName,
        digest: &'a Digest,
        size: u64,
        limits: super::Limits,
    },
    /// [`super::MetaStore::complete_upload_within`].
    CompleteUpload {
        id: &'a str,
        repo: &'a RepositoryName,
        digest: &'a Digest,
        size: u64,
        limits: super::Limits,
    },
}

impl Change<'_> {
    /// The repository the change is made in.
    pub fn repository(&self) -> &RepositoryName {
        match self {
            Change::PutManifest { repo, .. }
            | Change::DeleteManifest { repo, .. }
            | Change::DeleteTag { repo, .. }
            | Change::UnlinkBlob { repo, .. }
            | Change::LinkBlob { repo, .. }
            | Change::CompleteUpload { repo, .. } => repo,
        }
    }

    /// The manifest a push points its tags at.
    pub fn pushed_digest(&self) -> Option<&Digest> {
        match self {
            Change::PutManifest { manifest, .. } => Some(&manifest.digest),
            _ => None,
        }
    }
}

/// When an event describes the change: evaluated by the store, in the change's
/// transaction, on the state before the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// The change's repository did not exist.
    RepositoryIsNew,
    /// The tag did not exist.
    TagIsNew(Tag),
    /// The tag pointed at another manifest than the one pushed.
    TagMoves(Tag),
}

/// An event to append to the outbox if its condition holds and the change happens.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Stable and unique: receivers deduplicate on it.
    pub id: String,
    /// The event type (`io.wharf.manifest.pushed`), for the endpoints' filters.
    pub kind: String,
    pub repository: String,
    pub time: SystemTime,
    /// What is delivered, as it is delivered.
    pub body: Vec<u8>,
    pub condition: Condition,
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Its place in the outbox: commit order, increasing.
    pub seq: u64,
    pub id: String,
    pub kind: String,
    pub repository: String,
    pub time: SystemTime,
    pub body: Vec<u8>,
}

impl OutboxEvent {
    pub(crate) fn from_new(seq: u64, e: NewEvent) -> OutboxEvent {
        OutboxEvent {
            seq,
            id: e.id,
            kind: e.kind,
            repository: e.repository,
            time: e.time,
            body: e.body,
        }
    }
}

/// The answer to [`super::MetaStore::outbox_lease`].
#[derive(Debug, Clone, PartialEq)]
pub enum Leased {
    /// The caller holds the endpoint's lease; these events follow its cursor.
    Held(Vec<OutboxEvent>),
    /// Another dispatcher holds the lease.
    Elsewhere,
}

/// The error of the outbox calls' defaults, for an adapter that keeps no outbox.
pub(crate) fn no_outbox() -> super::MetaError {
    super::MetaError::new("this metadata store keeps no event outbox (events need one)")
}

/// The events of the items a batch removal removed: `events[i]` describes `items[i]`;
/// kept in the order of `items` (see
/// [`super::MetaStore::remove_unused_manifests_with_events`]).
pub(crate) fn events_of_removed<'e, K: Eq + std::hash::Hash>(
    items: &[K],
    events: &'e [Vec<NewEvent>],
    removed: &[K],
) -> Vec<&'e NewEvent> {
    let removed: std::collections::HashSet<&K> = removed.iter().collect();
    items
        .iter()
        .zip(events)
        .filter(|(item, _)| removed.contains(item))
        .flat_map(|(_, events)| events)
        .collect()
}

/// Whether `condition` holds before `change`, asked through the store's reads (the
/// default of [`super::MetaStore::apply_with_events`]).
pub(crate) async fn holds<S: super::MetaStore + ?Sized>(
    store: &S,
    change: &Change<'_>,
    condition: &Condition,
) -> super::MetaResult<bool> {
    let repo = change.repository();
    Ok(match condition {
        Condition::Always => true,
        Condition::RepositoryIsNew => !store.repository_exists(repo).await?,
        Condition::TagIsNew(tag) => store.tagged_manifest(repo, tag).await?.is_none(),
        Condition::TagMoves(tag) => match (store.tagged_manifest(repo, tag).await?, change.pushed_digest()) {
            (Some(current), Some(pushed)) => &current.digest != pushed,
            _ => false,
        },
    })
}

/// Applies `change` through the store's own calls (the default of
/// [`super::MetaStore::apply_with_events`]).
pub(crate) async fn apply<S: super::MetaStore + ?Sized>(store: &S, change: Change<'_>) -> super::MetaResult<bool> {
    match change {
        Change::PutManifest {
            repo,
            manifest,
            tags,
            references,
            require_linked,
            fixed,
            limits,
        } => store
            .put_manifest_within(repo, manifest, tags, references, require_linked, fixed, limits)
            .await
            .map(|()| true),
        Change::DeleteManifest {
            repo,
            digest,
            fixed: Some(fixed),
        } => store.delete_manifest_fixed_tags(repo, digest, fixed).await,
        Change::DeleteManifest {
            repo,
            digest,
            fixed: None,
        } => store.delete_manifest(repo, digest).await,
        Change::DeleteTag { repo, tag, at: None } => store.delete_tag(repo, tag).await,
        Change::DeleteTag {
            repo,
            tag,
            at: Some(digest),
        } => store.delete_tag_at(repo, tag, digest).await,
        Change::UnlinkBlob { repo, digest } => store.unlink_blob(repo, digest).await,
        Change::LinkBlob {
            repo,
            digest,
            size,
            limits,
        } => store.link_blob_within(repo, digest, size, limits).await.map(|()| true),
        Change::CompleteUpload {
            id,
            repo,
            digest,
            size,
            limits,
        } => store
            .complete_upload_within(id, repo, digest, size, limits)
            .await
            .map(|()| true),
    }
}
