//! Pull-through: upstream registries as sources of content.
//!
//! An [`Upstream`] is another registry the registry asks on a miss: a manifest, a tag or
//! a blob that a repository under the upstream's prefix does not hold yet. The protocol
//! layer (`registry/pull_through/`) decides when to ask and stores what comes back like
//! pushed content; this module says what an upstream answers ([`Upstream`]) and which
//! repositories map to which upstream ([`Upstreams`]).
//!
//! The library depends on no HTTP client: the `wharf` binary implements [`Upstream`] with
//! `wharf-client` (retries with backoff, tokens, fallback URLs); an application that
//! embeds the registry may implement it with its own.

mod routes;

pub use routes::{UpstreamRoute, Upstreams};

use crate::storage::ByteStream;
use async_trait::async_trait;
use bytes::Bytes;
use wharf_oci::{Digest, Reference, RepositoryName, Tag};

/// Why an upstream could not give what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream answered that it has no such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// The upstream could not be reached, or kept answering 429 or 5xx after retries:
    /// content already cached may be served instead.
    #[error("{0}")]
    Unavailable(String),
    /// The upstream refused (401/403: wrong or missing credentials), or answered
    /// something unusable (bytes unlike their digest, a broken protocol).
    #[error("{0}")]
    Failed(String),
}

/// A manifest as the upstream sent it, verified against its digest (by digest: the one
/// asked; by tag: the one the upstream named, or its sha256).
#[derive(Debug, Clone)]
pub struct UpstreamManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Bytes,
}

/// A blob download the upstream has begun: its size when announced, and its bytes,
/// not yet verified (the caller hashes them).
pub struct UpstreamBlob {
    pub size: Option<u64>,
    pub stream: ByteStream,
}

/// An upstream registry, addressed with the repository names it knows (prefix removed,
/// `library/` added where the route says so). Implementations retry 429s, 5xx and
/// connection errors with backoff themselves and answer [`UpstreamError::Unavailable`]
/// only once those retries are spent.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// A description for logs and error messages (the URLs it tries).
    fn describe(&self) -> String;

    /// The manifest `reference` names.
    async fn manifest(&self, name: &RepositoryName, reference: &Reference) -> Result<UpstreamManifest, UpstreamError>;

    /// The digest the tag names now, with a HEAD (which Docker Hub does not count
    /// against its pull limit); `None` when the upstream has no such tag.
    async fn tag_digest(&self, name: &RepositoryName, tag: &Tag) -> Result<Option<Digest>, UpstreamError>;

    /// Begins a download of the blob.
    async fn blob(&self, name: &RepositoryName, digest: &Digest) -> Result<UpstreamBlob, UpstreamError>;

    /// The blob's size, with a HEAD; `None` when the upstream has no such blob.
    async fn blob_size(&self, name: &RepositoryName, digest: &Digest) -> Result<Option<u64>, UpstreamError>;

    /// Every tag of the repository.
    async fn tags(&self, name: &RepositoryName) -> Result<Vec<String>, UpstreamError>;

    /// The referrers of `subject`, as the descriptors of an image index's `manifests`
    /// (JSON objects), unfiltered.
    async fn referrers(&self, name: &RepositoryName, subject: &Digest)
        -> Result<Vec<serde_json::Value>, UpstreamError>;
}
