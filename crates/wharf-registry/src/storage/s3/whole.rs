//! Whole blobs streamed straight into place: the body of a monolithic push, whose digest
//! the client named before sending it, becomes the parts of a multipart upload created
//! on the blob's own key, several in flight at once. The object appears only when the
//! commit completes that multipart upload, after the registry has checked the digest,
//! so the blob is still visible only whole and verified, and its bytes cross the
//! network once instead of being stored as segments and then copied into parts.
//!
//! What this gives up: parts of an unfinished multipart upload cannot be read back, so
//! a body that breaks off keeps nothing (the upload is empty again and the client
//! starts over), where an append keeps what arrived. A body shorter than one part
//! is stored as a segment, as an append would store it.

use super::parts::InFlight;
use super::record::{Segment, UploadRecord, WholePart, WholeUpload};
use super::{to_io, S3BlobStore};
use crate::storage::AppendSource;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use std::io;
use std::sync::Arc;
use wharf_oci::Digest;

impl S3BlobStore {
    /// Stores `source`, the whole blob `digest`, in the upload `id` (which the registry
    /// holds empty): see the module's documentation and
    /// [`BlobStore::append_whole_upload`](crate::storage::BlobStore::append_whole_upload).
    pub(super) async fn append_whole(&self, id: &str, digest: &Digest, source: AppendSource<'_>) -> io::Result<u64> {
        let mut record = self.load_record(id).await?;
        if record.whole.is_some() {
            self.abort_whole(id, &mut record).await?;
        }
        if !record.segments.is_empty() {
            // Bytes of an append the registry never recorded: the upload starts afresh.
            let unused = record.truncate(0);
            self.save_record(id, &mut record).await?;
            self.delete_quietly(unused.into_iter().map(|s| s.key)).await;
        }
        let first = self.parts.size_of(0);
        let mut buffer = BytesMut::new();
        let mut taken = 0u64;
        let mut failed = false;
        // Until a part is full, the body may be small enough for one segment.
        while buffer.len() < first {
            match source.try_next().await {
                Ok(Some(chunk)) => {
                    taken += chunk.len() as u64;
                    buffer.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed || buffer.len() < first {
            if !buffer.is_empty() {
                self.store_single_segment(id, &mut record, buffer.freeze()).await?;
            }
            return Ok(taken);
        }
        let key = self.keys.blob(digest);
        let upload_id = self.store.create_multipart(&key).await.map_err(to_io)?;
        record.whole = Some(WholeUpload {
            key: key.to_string(),
            upload_id: upload_id.clone(),
            parts: Vec::new(),
        });
        let streamed = async {
            self.save_record(id, &mut record).await?;
            self.stream_parts(&key, &upload_id, buffer, source).await
        }
        .await;
        match streamed {
            Ok(Some((more, parts))) => {
                record.whole.as_mut().expect("set above").parts = parts;
                self.save_record(id, &mut record).await?;
                Ok(taken + more)
            }
            // The body broke off: nothing is kept.
            Ok(None) => {
                self.abort_whole(id, &mut record).await?;
                Ok(0)
            }
            Err(e) => {
                if let Err(abort) = self.abort_whole(id, &mut record).await {
                    tracing::warn!(upload = id, error = %abort, "could not abort a failed whole upload");
                }
                Err(e)
            }
        }
    }

    /// Sends `first` and the rest of `source` as parts of the multipart upload; returns
    /// how many more bytes the source gave and the parts in order, or `None` when the
    /// source failed.
    async fn stream_parts(
        &self,
        key: &Path,
        upload_id: &str,
        first: BytesMut,
        source: AppendSource<'_>,
    ) -> io::Result<Option<(u64, Vec<WholePart>)>> {
        let target = Arc::new((key.clone(), upload_id.to_string()));
        let mut in_flight: InFlight<WholePart> = InFlight::new(self.parts.in_flight);
        let mut parts = Vec::new();
        let mut index = 0usize;
        let mut buffer = first;
        let mut more = 0u64;
        let send = |bytes: Bytes, index: usize| {
            let store = self.store.clone();
            let target = target.clone();
            async move {
                let len = bytes.len() as u64;
                let PartId { content_id } = store
                    .put_part(&target.0, &target.1, index, PutPayload::from(bytes))
                    .await
                    .map_err(to_io)?;
                Ok(WholePart { etag: content_id, len })
            }
        };
        loop {
            while buffer.len() >= self.parts.size_of(index) {
                let full = buffer.split_to(self.parts.size_of(index)).freeze();
                parts.extend(in_flight.push(send(full, index)).await?);
                index += 1;
            }
            match source.try_next().await {
                Ok(Some(chunk)) => {
                    more += chunk.len() as u64;
                    buffer.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => return Ok(None),
            }
        }
        // The last part may be smaller than 5 MiB.
        if !buffer.is_empty() {
            parts.extend(in_flight.push(send(buffer.freeze(), index)).await?);
        }
        parts.extend(in_flight.drain().await?);
        Ok(Some((more, parts)))
    }

    /// A body shorter than a part: one segment, as an append stores it.
    async fn store_single_segment(&self, id: &str, record: &mut UploadRecord, bytes: Bytes) -> io::Result<()> {
        let key = self.keys.new_segment(id);
        let len = bytes.len() as u64;
        self.store.put(&key, PutPayload::from(bytes)).await.map_err(to_io)?;
        record.segments.push(Segment {
            key: key.to_string(),
            len,
        });
        self.save_record(id, record).await
    }

    /// Aborts the record's whole upload, if any, and stores the record without it.
    pub(super) async fn abort_whole(&self, id: &str, record: &mut UploadRecord) -> io::Result<()> {
        let Some(whole) = record.whole.take() else {
            return Ok(());
        };
        match self
            .store
            .abort_multipart(&Path::from(whole.key.as_str()), &whole.upload_id)
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(upload = id, error = %e, "could not abort a whole upload's multipart upload"),
        }
        self.save_record(id, record).await
    }

    /// Completes the record's whole upload as blob `key` of `len` bytes; `false` when
    /// the record holds none.
    ///
    /// Refused when it was streamed for another digest or holds another length (a
    /// session the registry let diverge from the body it streamed): its bytes cannot
    /// be read back to be stored otherwise, so the client has to start again.
    pub(super) async fn complete_whole(
        &self,
        id: &str,
        record: &UploadRecord,
        key: &Path,
        len: u64,
    ) -> io::Result<bool> {
        let Some(whole) = &record.whole else {
            return Ok(false);
        };
        if whole.key != key.as_ref() || whole.parts.is_empty() || whole.len() != len || !record.segments.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "upload {id} streamed {} bytes for {} and cannot be committed as {len} bytes of {key}; start the upload again",
                    whole.len(),
                    whole.key
                ),
            ));
        }
        let parts = whole
            .parts
            .iter()
            .map(|p| PartId {
                content_id: p.etag.clone(),
            })
            .collect();
        self.store
            .complete_multipart(key, &whole.upload_id, parts)
            .await
            .map_err(to_io)?;
        Ok(true)
    }
}
