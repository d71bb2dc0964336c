//! Reads: sizes, ranged streams of blobs and uploads (never a whole object in memory),
//! and the upload records.

use super::read_ahead;
use super::record::{Segment, UploadRecord};
use super::{to_io, S3BlobStore};
use crate::storage::ByteStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::io;
use std::ops::Range;

impl S3BlobStore {
    /// The size of an object, or `None` when there is none.
    pub(super) async fn object_size(&self, key: &Path) -> io::Result<Option<u64>> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    /// The bytes of `key` in `range`: one GET, streamed as it arrives; or, when parallel
    /// reads are configured, a range of more than two parts' size as ranged GETs of a
    /// part's size, several in flight at once (at most `read_in_flight` parts in
    /// memory), after a first small one that answers quickly and finds a missing object
    /// before any byte is sent.
    pub(super) async fn read_range(&self, key: &Path, range: Range<u64>) -> io::Result<ByteStream> {
        if range.is_empty() {
            // S3 refuses empty ranges; there is nothing to fetch.
            return Ok(futures::stream::empty().boxed());
        }
        let piece = self.parts.part_size as u64;
        if self.parts.read_in_flight > 1 && range.end - range.start > 2 * piece {
            return self.read_in_parallel(key, range, piece).await;
        }
        self.read_streamed(key, range).await
    }

    async fn read_in_parallel(&self, key: &Path, range: Range<u64>, piece: u64) -> io::Result<ByteStream> {
        const FIRST: u64 = 1 << 20;
        let first = range.start..range.start + FIRST;
        let head = self.store.get_range(key, first.clone()).await.map_err(to_io)?;
        let mut rest = Vec::new();
        let mut at = first.end;
        while at < range.end {
            let end = (at + piece).min(range.end);
            rest.push(at..end);
            at = end;
        }
        let (store, key) = (self.store.clone(), key.clone());
        let tail = futures::stream::iter(rest)
            .map(move |part| {
                let (store, key) = (store.clone(), key.clone());
                async move { store.get_range(&key, part).await.map_err(to_io) }
            })
            .buffered(self.parts.read_in_flight);
        Ok(futures::stream::once(async { Ok(head) }).chain(tail).boxed())
    }

    /// The bytes of `key` in `range` from one GET, streamed as they arrive; read ahead
    /// of the consumer (see [`read_ahead`]) when longer than what it may hold ahead.
    async fn read_streamed(&self, key: &Path, range: Range<u64>) -> io::Result<ByteStream> {
        let long = range.end - range.start > read_ahead::AHEAD as u64;
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self.store.get_opts(key, options).await.map_err(to_io)?;
        let stream = result.into_stream().map_err(to_io).boxed();
        if long {
            return Ok(read_ahead::read_ahead(
                stream,
                read_ahead::AHEAD,
                self.read_budget.clone(),
            ));
        }
        Ok(stream)
    }

    /// The first `len` bytes held by `segments`, one segment after the other.
    pub(super) fn read_segments(&self, segments: Vec<Segment>, len: u64) -> ByteStream {
        let this = self.clone();
        let mut start = 0u64;
        let pieces: Vec<(Path, u64)> = segments
            .into_iter()
            .filter_map(|segment| {
                let take = segment.len.min(len.saturating_sub(start));
                start += take;
                (take > 0).then(|| (Path::from(segment.key), take))
            })
            .collect();
        futures::stream::iter(pieces)
            .then(move |(key, take)| {
                let this = this.clone();
                async move { this.read_range(&key, 0..take).await }
            })
            .try_flatten()
            .boxed()
    }

    /// An upload's record; an empty one when it has none (never appended to, or gone).
    /// It carries the ETag it was read at, which [`Self::save_record`] checks.
    pub(super) async fn load_record(&self, id: &str) -> io::Result<UploadRecord> {
        match self.store.get(&self.keys.upload_state(id)).await {
            Ok(result) => {
                let version = result.meta.e_tag.clone();
                let bytes = result.bytes().await.map_err(to_io)?;
                let mut record: UploadRecord = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("upload {id} has a damaged record: {e}"),
                    )
                })?;
                record.version = version;
                Ok(record)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(UploadRecord::default()),
            Err(e) => Err(to_io(e)),
        }
    }

    /// Stores an upload's record (one PUT: S3 replaces an object atomically), only if
    /// the bucket still holds the version it was read at: `If-Match` on that ETag, or
    /// `If-None-Match: *` for a record read as absent. Two writers that read the same
    /// version (two replicas appending to one session at once, which the registry's
    /// lease in the metadata store allows only when a holder outlived its lease) cannot
    /// both succeed, so the later one never overwrites what the earlier one stored and
    /// acknowledged: it fails, and its caller's append with it (its own segments are
    /// left unnamed, removed with the upload). On success `record` carries the new
    /// ETag, for its next write.
    pub(super) async fn save_record(&self, id: &str, record: &mut UploadRecord) -> io::Result<()> {
        let json = serde_json::to_vec(record).map_err(io::Error::other)?;
        let mode = match &record.version {
            Some(e_tag) => PutMode::Update(UpdateVersion {
                e_tag: Some(e_tag.clone()),
                version: None,
            }),
            None => PutMode::Create,
        };
        let options = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.keys.upload_state(id), PutPayload::from(json), options)
            .await
        {
            Ok(written) => {
                record.version = written.e_tag;
                Ok(())
            }
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                Err(io::Error::other(format!(
                    "upload {id} was changed by another request while this one wrote to it; \
                     this request's bytes were not recorded"
                )))
            }
            Err(e) => Err(to_io(e)),
        }
    }

    /// Removes an object; an absent one is not an error.
    pub(super) async fn delete_object(&self, key: &Path) -> io::Result<()> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }

    /// Removes objects that nothing names any more, logging (not failing on) errors:
    /// what is left is only garbage under the upload's key, removed with the upload.
    pub(super) async fn delete_quietly(&self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            if let Err(e) = self.delete_object(&Path::from(key.as_str())).await {
                tracing::warn!(key, error = %e, "could not remove an unused upload segment");
            }
        }
    }

    /// Every object under `prefix` (a listing, for removals and the collector).
    pub(super) async fn objects_under(&self, prefix: &Path) -> io::Result<Vec<object_store::ObjectMeta>> {
        self.store.list(Some(prefix)).try_collect().await.map_err(to_io)
    }
}
