//! The S3 blob store: blobs as objects of an S3-compatible bucket, through the
//! object_store crate (which signs every request; wharf has no SigV4 of its own).
//!
//! Uploads are objects too (see [`keys`] for the layout and [`record`] for an upload's
//! record): an append stores its bytes as segments of 8 MiB or more, each a plain
//! object that can be read back, several sent at once (see [`parts`] for the bound on
//! memory), and records them in the upload's `state.json`. A
//! segment smaller than S3's 5 MiB part minimum (the staged tail) is read back and sent
//! again with the next append's bytes, so every segment but the last is a valid part.
//! Nothing lives in process memory between requests: another replica, or this one after
//! a restart, continues from the record, and an append at an earlier offset (after a
//! crash before the registry recorded the previous one) shortens the record to it. The
//! record is only ever replaced by a conditional PUT on the ETag it was read at (see
//! [`S3BlobStore::save_record`]), so two writers of one upload at once (which the
//! registry's lease in the metadata store already prevents, unless a holder outlives
//! its lease) cannot lose each other's update: the later one fails.
//!
//! Large reads are one streamed GET, read ahead of the client by up to 4 MiB out of a
//! budget all downloads share, its pieces handed on uncopied (see [`read_ahead`]).
//!
//! A commit is one atomic step of S3's: a single PUT for a blob of one segment, else a
//! multipart upload created on the blob's own key whose parts are server-side copies
//! (`UploadPartCopy`) of the segments; the object appears only when
//! `CompleteMultipartUpload` succeeds, whole, so no temporary key and no 5 GiB
//! `CopyObject` limit. A digest already stored is not copied again.
//!
//! A monolithic push, whose digest is known before its body, skips the segments: the
//! body is streamed into parts of a multipart upload on the blob's key (see [`whole`])
//! and the commit only completes it, so its bytes are written once and never copied.

mod append;
mod commit;
mod config;
mod keys;
mod listing;
mod part_copy;
mod parts;
mod read_ahead;
mod reads;
mod record;
mod whole;

pub use config::S3Config;

use super::{AppendSource, BlobStore, ByteStream, StoredBlob};
use async_trait::async_trait;
use bytes::Bytes;
use keys::Keys;
use object_store::aws::AmazonS3;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parts::PartSettings;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use wharf_oci::Digest;

/// Blobs and uploads in an S3 bucket; see the module's documentation.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    keys: Keys,
    bucket: String,
    /// For the requests object_store presigns but does not send itself (part copies).
    http: reqwest::Client,
    /// How long the presigned URLs of blob GET redirects last; `None`: no redirects.
    redirect_expiry: Option<Duration>,
    /// Part size and parts in flight of writes and large reads.
    parts: PartSettings,
    /// The bytes large reads of this store (and its clones) may read ahead of their
    /// clients together, beyond one piece each (see [`read_ahead`]).
    read_budget: Arc<tokio::sync::Semaphore>,
}

impl S3BlobStore {
    /// Connects to the bucket and checks that it answers (credentials, bucket name and
    /// endpoint are wrong now rather than at the first push).
    pub async fn open(config: &S3Config) -> io::Result<S3BlobStore> {
        let store = S3BlobStore {
            store: Arc::new(config.client()?),
            keys: Keys::new(config.key_prefix()),
            bucket: config.bucket.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .map_err(io::Error::other)?,
            redirect_expiry: None,
            parts: PartSettings::default(),
            read_budget: Arc::new(tokio::sync::Semaphore::new(read_ahead::BUDGET)),
        };
        store
            .store
            .list_with_delimiter(Some(&store.keys.uploads()))
            .await
            .map_err(|e| io::Error::other(format!("S3 bucket {:?} does not answer: {e}", config.bucket)))?;
        Ok(store)
    }

    /// Hands out presigned URLs valid for `expires_in` as
    /// [`BlobStore::blob_redirect_url`], so the registry answers blob GETs with a
    /// redirect to the bucket (which clients must be able to reach at the endpoint).
    pub fn with_redirects(mut self, expires_in: Duration) -> S3BlobStore {
        self.redirect_expiry = Some(expires_in);
        self
    }

    /// Cuts upload bodies into parts of `part_size` bytes (at least S3's 5 MiB; 8 MiB by
    /// default), of which `in_flight` (at least 1; 4 by default) are sent at once. One
    /// request holds at most `(in_flight + 1) × part_size` bytes in memory.
    pub fn with_upload_parts(mut self, part_size: usize, in_flight: usize) -> S3BlobStore {
        let reads = self.parts.read_in_flight;
        self.parts = PartSettings::new(part_size, in_flight);
        self.parts.read_in_flight = reads;
        self
    }

    /// Reads ranges larger than two parts as ranged GETs of the part size, `in_flight`
    /// at once (1, the default: one streamed GET). A download then holds up to
    /// `in_flight × part_size` bytes in memory.
    pub fn with_parallel_reads(mut self, in_flight: usize) -> S3BlobStore {
        self.parts.read_in_flight = in_flight.max(1);
        self
    }

    /// A presigned URL that lets its holder GET the blob's bytes for `expires_in`
    /// without credentials.
    pub async fn presigned_blob_url(&self, digest: &Digest, expires_in: Duration) -> io::Result<String> {
        use object_store::signer::Signer;
        let url = self
            .store
            .signed_url(http::Method::GET, &self.keys.blob(digest), expires_in)
            .await
            .map_err(to_io)?;
        Ok(url.to_string())
    }
}

/// object_store's errors as I/O errors, keeping "not found" recognisable.
pub(super) fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e => io::Error::other(e.to_string()),
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        self.object_size(&self.keys.blob(digest)).await
    }

    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream> {
        self.read_range(&self.keys.blob(digest), range).await
    }

    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        let key = self.keys.blob(digest);
        if self.object_size(&key).await? == Some(bytes.len() as u64) {
            return Ok(());
        }
        self.store.put(&key, PutPayload::from(bytes)).await.map_err(to_io)?;
        Ok(())
    }

    async fn delete_blob(&self, digest: &Digest) -> io::Result<()> {
        self.delete_object(&self.keys.blob(digest)).await
    }

    async fn quarantine_blob(&self, digest: &Digest) -> io::Result<bool> {
        let key = self.keys.blob(digest);
        let Some(size) = self.object_size(&key).await? else {
            return Ok(false);
        };
        self.copy_object(&key, size, &self.keys.quarantined(digest)).await?;
        self.delete_object(&key).await?;
        Ok(true)
    }

    async fn create_upload(&self, _id: &str) -> io::Result<()> {
        // Nothing until the first append: an upload without a record is empty.
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.append(id, offset, source).await
    }

    async fn append_whole_upload(&self, id: &str, digest: &Digest, source: AppendSource<'_>) -> io::Result<u64> {
        self.append_whole(id, digest, source).await
    }

    async fn upload_len(&self, id: &str) -> io::Result<u64> {
        Ok(self.load_record(id).await?.len())
    }

    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream> {
        let record = self.load_record(id).await?;
        Ok(self.read_segments(record.segments, len))
    }

    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        self.commit(id, len, digest).await
    }

    async fn commit_whole_upload(&self, id: &str, bytes: Bytes, digest: &Digest) -> io::Result<()> {
        self.put_blob(digest, bytes).await?;
        self.remove_upload(id).await
    }

    async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.remove_upload(id).await
    }

    async fn blob_redirect_url(&self, digest: &Digest) -> io::Result<Option<String>> {
        match self.redirect_expiry {
            Some(expiry) => Ok(Some(self.presigned_blob_url(digest, expiry).await?)),
            None => Ok(None),
        }
    }

    async fn list_uploads(&self) -> io::Result<Vec<String>> {
        self.upload_ids().await
    }

    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        self.stored_blobs().await
    }
}
