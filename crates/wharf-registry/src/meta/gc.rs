//! What the metadata store keeps for garbage collection, and the answers of its calls.
//!
//! The collector never decides from what it read a moment ago alone: every removal is
//! a [`super::MetaStore`] call that re-checks its condition inside the transaction that
//! removes, and the push path's calls ([`super::MetaStore::claim_blob`], `link_blob`,
//! `put_manifest`) check the fence in theirs. A relational store maps each of these
//! calls onto one transaction (with row locks on PostgreSQL); see DESIGN.md.

use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName, Tag};

/// The answer to [`super::MetaStore::claim_blob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobClaim {
    /// The blob's row existed (its bytes are stored, or are being stored by another
    /// push that claimed it); its touch time is now.
    Held,
    /// The row did not exist: it does now, and the caller must store the bytes (a
    /// cache that says they are stored may be older than a collection).
    New,
    /// The collector is removing this blob's bytes: wait and claim again.
    Deleting,
}

/// Why the metadata store refused a change: the protocol layer answers each with its
/// own error rather than a server failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The blob's bytes are being removed, or were removed, by the garbage collector: a
    /// link to it would point at nothing. Retryable (push the blob again).
    #[error("blob {0} is being removed by the garbage collector")]
    BlobGone(Digest),
    /// A manifest's required references are not (or no longer) linked in its repository.
    #[error("the manifest references {} blobs or manifests the repository does not hold", .0.len())]
    ReferencesMissing(Vec<Digest>),
    /// An immutable tag would move (or go, with the manifest it points at): it points at
    /// `current`.
    #[error("tag {tag} is immutable and points at {current}")]
    TagImmutable { tag: Tag, current: Digest },
    /// The link would take usage over a quota (see [`super::Limits`]): `usage` bytes
    /// are linked, the push adds `incoming`, the limit is `limit`.
    #[error("over quota: {usage} bytes used, {incoming} more pushed, limit {limit}")]
    OverQuota {
        scope: super::QuotaScope,
        usage: u64,
        incoming: u64,
        limit: u64,
    },
}

/// Everything the collector decides from, read in one consistent snapshot.
#[derive(Debug, Clone, Default)]
pub struct GcSnapshot {
    pub manifests: Vec<GcManifest>,
    /// (repository, manifest, digest it requires).
    pub references: Vec<(RepositoryName, Digest, Digest)>,
    pub links: Vec<GcLink>,
    pub blobs: Vec<GcBlob>,
}

/// A manifest as the collector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GcManifest {
    pub repository: RepositoryName,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// When it was pushed (last pushed again).
    pub created: SystemTime,
    pub tagged: bool,
    pub subject: Option<Digest>,
    /// Whether its required references are recorded: manifests pushed before wharf
    /// recorded them have none until the collector's backfill reads their bytes.
    pub references_recorded: bool,
}

/// A blob linked into a repository.
#[derive(Debug, Clone, PartialEq)]
pub struct GcLink {
    pub repository: RepositoryName,
    pub digest: Digest,
    pub size: u64,
    /// When it was linked (last linked again).
    pub created: SystemTime,
    /// When it was last pulled, as recorded by [`super::MetaStore::record_pulls`]
    /// (`None`: never since it was linked, or before pull times were kept).
    pub pulled: Option<SystemTime>,
}

impl GcLink {
    /// The later of its last pull and its link (a blob or manifest never pulled counts
    /// from its push): what "least recently pulled" and `not_pulled_for` compare.
    pub fn last_used(&self) -> SystemTime {
        self.pulled.map_or(self.created, |p| p.max(self.created))
    }
}

/// A blob whose bytes the blob store holds (the fence row).
#[derive(Debug, Clone, PartialEq)]
pub struct GcBlob {
    pub digest: Digest,
    pub size: u64,
    /// Last claim of the blob by a push.
    pub touched: SystemTime,
    /// Marked by a collector that is removing its bytes (a crash may leave it marked;
    /// the next collection finishes the removal).
    pub deleting: bool,
}
