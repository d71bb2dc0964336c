//! Listings, for the collector and the start-up sweep (never on a request path), and the
//! removal of an upload.

use super::{to_io, S3BlobStore};
use crate::storage::StoredBlob;
use futures::StreamExt;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::ObjectStore;
use std::io;

impl S3BlobStore {
    pub(super) async fn stored_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        let objects = self.objects_under(&self.keys.blobs()).await?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                Some(StoredBlob {
                    digest: self.keys.digest_of_blob_key(&meta.location)?,
                    size: meta.size,
                    written: Some(meta.last_modified.into()),
                })
            })
            .collect())
    }

    /// Ids of the uploads that have objects (a record or segments). Read from the
    /// objects themselves, not from common prefixes: some servers (SeaweedFS) keep an
    /// emptied "directory" listed as a prefix after its last object is removed.
    pub(super) async fn upload_ids(&self) -> io::Result<Vec<String>> {
        let uploads = format!("{}/", self.keys.uploads());
        let mut ids: Vec<String> = self
            .objects_under(&self.keys.uploads())
            .await?
            .iter()
            .filter_map(|meta| {
                let rest = meta.location.as_ref().strip_prefix(&uploads)?;
                let (id, _) = rest.split_once('/')?;
                let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                valid.then(|| id.to_string())
            })
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Removes an upload: aborts the multipart uploads a commit or a whole upload may
    /// have left, then every object under the upload's key (the record last, so a failure part-way leaves an
    /// upload that is still listed and removed again later).
    pub(super) async fn remove_upload(&self, id: &str) -> io::Result<()> {
        let record = self.load_record(id).await?;
        if let Some(pending) = &record.commit {
            match self
                .store
                .abort_multipart(&Path::from(pending.key.as_str()), &pending.upload_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(upload = id, error = %e, "could not abort a multipart upload"),
            }
        }
        if let Some(whole) = &record.whole {
            match self
                .store
                .abort_multipart(&Path::from(whole.key.as_str()), &whole.upload_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(upload = id, error = %e, "could not abort a whole upload"),
            }
        }
        self.remove_upload_objects(id).await
    }

    /// Removes every object under the upload's key, the record last; the segments in
    /// bulk (`DeleteObjects`, up to 1,000 keys a request), not one request each.
    pub(super) async fn remove_upload_objects(&self, id: &str) -> io::Result<()> {
        let state = self.keys.upload_state(id);
        let others: Vec<object_store::Result<Path>> = (self.objects_under(&self.keys.upload_dir(id)).await?)
            .into_iter()
            .filter(|meta| meta.location != state)
            .map(|meta| Ok(meta.location))
            .collect();
        let mut removed = self.store.delete_stream(futures::stream::iter(others).boxed());
        while let Some(result) = removed.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(to_io(e)),
            }
        }
        self.delete_object(&state).await
    }
}
