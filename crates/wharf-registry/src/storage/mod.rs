//! Blob bytes: the [`BlobStore`] trait and its adapters.
//!
//! A blob store keeps bytes under their digest and the bytes of unfinished uploads. It
//! knows nothing of repositories or of the protocol: the registry decides what may be
//! read, checks digests, and tells the store when an upload is complete.

mod fs;
mod memory;
// The S3 blob store, only in a build with the `s3` feature (object_store and its HTTP
// stack are a large part of a first build).
#[cfg(feature = "s3")]
mod s3;

pub use fs::FsBlobStore;
pub use memory::MemoryBlobStore;
#[cfg(feature = "s3")]
pub use s3::{S3BlobStore, S3Config};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::io;
use std::ops::Range;
use std::pin::Pin;
use wharf_oci::Digest;

/// A stream of bytes, as blobs are read and written.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A body being appended to an upload; borrowed so the caller can inspect what it
/// observed (hash, length) once the store is done with it.
pub type AppendSource<'a> = &'a mut (dyn Stream<Item = io::Result<Bytes>> + Send + Unpin);

/// A blob as [`BlobStore::list_blobs`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    /// When its bytes were written, where the store knows (`None`: unknown, as old).
    pub written: Option<std::time::SystemTime>,
}

/// Where blob bytes live.
///
/// Contract every adapter keeps (and the checks of `testkit::blob_store_contract`, behind the
/// `testkit` feature, check, on the built-in adapters and on yours):
/// - a blob is visible under a digest only once complete; `commit_upload` is atomic;
/// - committing a digest that already exists keeps the existing bytes and discards the
///   upload (content addressing makes them equal), unless the stored blob is absent or
///   of another length than the commit's (damaged outside wharf): then the commit
///   replaces it, which is how a push repairs a damaged blob;
/// - `append_upload` appends a prefix of the source and reports its length: all of it,
///   or, when the source fails (a body cut off or stalled), every byte it yielded before
///   the failure, so that what arrived is kept and the session can resume from there. A
///   failure of the store itself leaves the upload as it was at `offset`. Bytes past an
///   upload's recorded offset (an append whose caller was cut off before recording it)
///   are the store's to keep or drop: the next append at the offset discards them;
/// - uploads are identified by opaque ids of `[A-Za-z0-9_-]` chosen by the registry,
///   which passes only ids of sessions it holds (it checks its metadata first, under
///   the session's lock). An adapter may keep nothing of an upload until its first
///   append: one never appended to reads, commits and lists as an empty upload would,
///   and an append at offset 0 may be what creates it. Appending past the bytes an
///   upload holds always fails.
///
/// The upload primitive — append at a known offset, then commit under a digest — maps
/// onto a file (append, fsync, rename) and onto object storage (multipart parts, small
/// chunks staged until a part is full, complete, copy).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The size of a stored blob, or `None`.
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>>;

    /// The bytes of a stored blob in `range` (end exclusive, within its size).
    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream>;

    /// Stores a small blob given whole (manifests); the caller has checked its digest.
    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()>;

    /// Removes a blob's bytes. Removing an absent blob is not an error.
    async fn delete_blob(&self, digest: &Digest) -> io::Result<()>;

    /// Sets aside the bytes of a blob the registry found damaged (a size unlike its
    /// record, bytes unlike its digest): from then on the blob reads as absent, so it is
    /// never served again, and the next commit or put of the digest stores it afresh.
    /// Adapters that can keep the bad bytes for an operator to look at (the file store
    /// moves them to `quarantine/`) do; the default removes them. Returns whether there
    /// was anything to set aside.
    async fn quarantine_blob(&self, digest: &Digest) -> io::Result<bool> {
        let present = self.blob_size(digest).await?.is_some();
        self.delete_blob(digest).await?;
        Ok(present)
    }

    /// Starts an empty upload (which may write nothing yet, see the contract above).
    async fn create_upload(&self, id: &str) -> io::Result<()>;

    /// Appends `source` to the upload whose committed length is `offset`, discarding
    /// anything past `offset` first (what a crashed append may have left). Returns the
    /// number of bytes appended: the whole source, or what it yielded before it failed
    /// (the caller learns why from its source). Durable once it returns, in a durable
    /// store; an empty source makes the bytes the upload already holds durable. On error
    /// the upload's length is `offset` again.
    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64>;

    /// Like [`BlobStore::append_upload`], for an upload that is never continued after a
    /// restart and matters only once committed (a pull-through fetch: a process killed
    /// midway leaves an upload that the expiry sweep removes). Its bytes need not be
    /// durable when this returns, only once `commit_upload` has returned, so a durable
    /// store may leave every sync to the commit: the fetch then runs at the speed of
    /// memory, not of the disk. The default is `append_upload`.
    async fn append_upload_until_commit(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.append_upload(id, offset, source).await
    }

    /// Like `append_upload(id, 0, source)` on an upload the registry holds empty, for a
    /// body that is the whole blob `digest` (a monolithic push), which the registry
    /// commits with `commit_upload(id, len, digest)` once it has checked the digest, or
    /// removes. An adapter may store it where only that commit can use it, without a
    /// copy (S3: the parts of a multipart upload on the blob's own key), on these terms:
    /// - bytes so stored need not be readable nor counted by `read_upload` and
    ///   `upload_len` (they hold 0 bytes meanwhile), and commit only as `digest`;
    /// - when the source fails, the adapter may drop what it took and return 0 (the
    ///   upload is empty again and the client must start over) instead of keeping the
    ///   prefix as `append_upload` does; a return of n > 0 means n bytes are kept;
    /// - an `append_upload` at offset 0 discards them.
    ///
    /// Never visible under `digest` before the commit. The default is `append_upload`.
    async fn append_whole_upload(&self, id: &str, _digest: &Digest, source: AppendSource<'_>) -> io::Result<u64> {
        self.append_upload(id, 0, source).await
    }

    /// How many bytes the upload holds (0 for one never appended to): more than its
    /// session recorded when an append was cut off before it could be recorded (the
    /// process stopped mid-request). The default reads the upload through.
    async fn upload_len(&self, id: &str) -> io::Result<u64> {
        use futures::TryStreamExt;
        let mut stream = self.read_upload(id, u64::MAX).await?;
        let mut len = 0;
        while let Some(chunk) = stream.try_next().await? {
            len += chunk.len() as u64;
        }
        Ok(len)
    }

    /// The first `len` bytes of an upload (to hash them again with another algorithm).
    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream>;

    /// The bytes of an upload in `range` (end exclusive, within what it holds): how a
    /// pull-through fetch serves a client that joined it halfway from what is already
    /// stored. The default reads from the start and drops the bytes before `range`.
    async fn read_upload_range(&self, id: &str, range: Range<u64>) -> io::Result<ByteStream> {
        let stream = self.read_upload(id, range.end).await?;
        Ok(skip_bytes(stream, range.start))
    }

    /// Makes the first `len` bytes of the upload the blob `digest` (already verified by
    /// the caller), durably, and removes the upload.
    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()>;

    /// Makes `bytes`, given whole, the content of the empty upload `id` and commits it as
    /// the blob `digest` (already verified by the caller): a small blob sent in one
    /// request, stored in one step rather than an append and a commit. Same outcome and
    /// guarantees as those two calls, which is what the default does.
    async fn commit_whole_upload(&self, id: &str, bytes: Bytes, digest: &Digest) -> io::Result<()> {
        let len = bytes.len() as u64;
        let mut source = futures::stream::iter([Ok(bytes)]);
        self.append_upload(id, 0, &mut source).await?;
        self.commit_upload(id, len, digest).await
    }

    /// Removes an upload. Removing an absent one is not an error.
    async fn delete_upload(&self, id: &str) -> io::Result<()>;

    /// A URL from which a client may GET the blob's bytes itself (a presigned object
    /// URL), so that the registry answers a blob GET with a redirect there; `None`, the
    /// default, when the registry streams them (the store has no such URL, or is not
    /// configured to hand them out).
    async fn blob_redirect_url(&self, _digest: &Digest) -> io::Result<Option<String>> {
        Ok(None)
    }

    /// The ids of every upload the store holds bytes or a record of (to remove those no
    /// session owns).
    async fn list_uploads(&self) -> io::Result<Vec<String>>;

    /// Every blob the store holds, in no order: the garbage collector removes those the
    /// metadata store has no row for (bytes from before it kept rows, or removed from
    /// every repository before collection existed). Not for a request path.
    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>>;

    /// Whether the store can take writes and give them back now, for the server's
    /// readiness probe (`/readyz`). Cheap: it is called at most about once a second,
    /// under a short timeout. The default writes a two-byte upload under a fresh id,
    /// checks its length and removes it, which every adapter can do; an adapter with a
    /// cheaper or more telling check (a bucket's HEAD, a connection ping) overrides it.
    async fn check_ready(&self) -> io::Result<()> {
        let id = uuid::Uuid::new_v4().to_string();
        self.create_upload(&id).await?;
        let mut probe = futures::stream::iter([Ok(Bytes::from_static(b"ok"))]);
        let checked = match self.append_upload(&id, 0, &mut probe).await {
            Ok(_) => self.upload_len(&id).await,
            Err(e) => Err(e),
        };
        // Removed whatever the check found: a probe leaves nothing behind.
        let removed = self.delete_upload(&id).await;
        match checked? {
            2 => removed,
            n => Err(io::Error::other(format!(
                "a 2-byte probe upload reads back as {n} bytes"
            ))),
        }
    }
}

/// The part of `bytes` in `range` (end exclusive, cut to what `bytes` holds) as a stream
/// of one piece: how content already in memory is read.
pub(crate) fn range_of(bytes: &Bytes, range: Range<u64>) -> ByteStream {
    let end = usize::try_from(range.end).map_or(bytes.len(), |end| end.min(bytes.len()));
    let start = usize::try_from(range.start).map_or(end, |start| start.min(end));
    futures::stream::iter([Ok(bytes.slice(start..end))]).boxed()
}

/// Reads a whole blob into memory: only for the small ones (manifests, blobs the
/// registry keeps in memory).
pub async fn read_blob_to_bytes(store: &dyn BlobStore, digest: &Digest, size: u64) -> io::Result<Bytes> {
    use futures::TryStreamExt;
    let mut stream = store.read_blob(digest, 0..size).await?;
    let mut buf = Vec::with_capacity(size as usize);
    while let Some(chunk) = stream.try_next().await? {
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("blob {digest} is shorter than recorded"),
        ));
    }
    Ok(Bytes::from(buf))
}

/// `stream` without its first `skip` bytes.
pub(crate) fn skip_bytes(stream: ByteStream, skip: u64) -> ByteStream {
    if skip == 0 {
        return stream;
    }
    let mut remaining = skip;
    stream
        .filter_map(move |piece| {
            let out = match piece {
                Ok(p) if remaining >= p.len() as u64 => {
                    remaining -= p.len() as u64;
                    None
                }
                Ok(p) => {
                    let rest = p.slice(remaining as usize..);
                    remaining = 0;
                    Some(Ok(rest))
                }
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        })
        .boxed()
}
