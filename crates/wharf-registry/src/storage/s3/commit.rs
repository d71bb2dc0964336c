//! Commits: an upload's segments become the blob under its digest, in one atomic step.

use super::record::{PendingCommit, UploadRecord};
use super::{to_io, S3BlobStore};
use bytes::BytesMut;
use futures::{StreamExt, TryStreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use std::io;
use wharf_oci::Digest;

impl S3BlobStore {
    /// Makes the first `len` bytes of upload `id` the blob `digest`, then removes the
    /// upload. A blob already stored at that length is kept as it is (nothing copied);
    /// a whole blob streamed into a multipart upload on its key (see [`super::whole`])
    /// is completed; an upload of one segment is one PUT; a longer one a multipart
    /// upload on the blob's key whose parts are server-side copies of the segments.
    /// Either way the blob appears only whole, when the PUT or `CompleteMultipartUpload`
    /// succeeds.
    pub(super) async fn commit(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        let key = self.keys.blob(digest);
        if self.object_size(&key).await? != Some(len) {
            let mut record = self.load_record(id).await?;
            if self.complete_whole(id, &record, &key, len).await? {
                // Completed: nothing left to abort, only the record to remove.
                if let Err(e) = self.remove_upload_objects(id).await {
                    tracing::warn!(upload = id, error = %e, "could not remove a committed upload");
                }
                return Ok(());
            }
            let held = record.len();
            if len > held {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("upload {id} holds {held} bytes: cannot commit {len}"),
                ));
            }
            record.truncate(len);
            if record.segments.len() <= 1 {
                self.commit_by_put(&record, len, &key).await?;
            } else {
                self.commit_by_parts(id, &mut record, &key).await?;
            }
        }
        // The blob is stored: a failure to tidy the upload leaves garbage for the sweep
        // of upload bytes without a session, not a failed commit.
        if let Err(e) = self.remove_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not remove a committed upload");
        }
        Ok(())
    }

    /// One segment at most (8 MiB): read back and PUT whole.
    async fn commit_by_put(&self, record: &UploadRecord, len: u64, key: &Path) -> io::Result<()> {
        let mut bytes = BytesMut::with_capacity(len as usize);
        let mut stream = self.read_segments(record.segments.clone(), len);
        while let Some(piece) = stream.try_next().await? {
            bytes.extend_from_slice(&piece);
        }
        self.store
            .put(key, PutPayload::from(bytes.freeze()))
            .await
            .map_err(to_io)?;
        Ok(())
    }

    /// A multipart upload on the blob's key, recorded in the upload's record before any
    /// part is sent (so removing the upload aborts it even after a crash), one part per
    /// segment, copied server-side.
    async fn commit_by_parts(&self, id: &str, record: &mut UploadRecord, key: &Path) -> io::Result<()> {
        let upload_id = self.store.create_multipart(key).await.map_err(to_io)?;
        record.commit = Some(PendingCommit {
            key: key.to_string(),
            upload_id: upload_id.clone(),
        });
        let result = async {
            self.save_record(id, record).await?;
            let copies: Vec<(usize, Path, u64)> = (record.segments.iter().enumerate())
                .map(|(index, segment)| (index, Path::from(segment.key.as_str()), segment.len))
                .collect();
            let upload_id = &upload_id;
            let parts: Vec<PartId> = futures::stream::iter(copies)
                .map(|(index, source, len)| async move { self.copy_part(key, upload_id, index, &source, 0..len).await })
                .buffered(self.parts.in_flight)
                .try_collect()
                .await?;
            self.store
                .complete_multipart(key, upload_id, parts)
                .await
                .map_err(to_io)?;
            Ok(())
        }
        .await;
        if result.is_err() {
            if let Err(e) = self.store.abort_multipart(key, &upload_id).await {
                tracing::warn!(upload = id, error = %e, "could not abort a failed commit's multipart upload");
            }
        }
        result
    }
}
