//! Reading and deleting blobs of a repository.

use super::content_cache::KEEP_BLOBS_UP_TO;
use super::{Registry, RegistryError, RegistryResult};
use crate::storage::{read_blob_to_bytes, ByteStream};
use futures::StreamExt;
use std::ops::Range;
use wharf_oci::{Digest, ErrorCode, RepositoryName};

/// A blob a repository may serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

impl Registry {
    /// The blob `digest` as `name` may serve it (BLOB_UNKNOWN otherwise).
    pub async fn blob(&self, name: &RepositoryName, digest: &Digest) -> RegistryResult<BlobInfo> {
        match self.meta.linked_blob(name, digest).await? {
            Some(size) => Ok(BlobInfo {
                digest: digest.clone(),
                size,
            }),
            None => Err(RegistryError::new(
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in repository {name}"),
            )),
        }
    }

    /// The bytes of `blob` in `range` (end exclusive): a small blob from memory (read
    /// whole and kept on first use, see [`super::content_cache`]), others streamed from storage.
    pub async fn blob_bytes(&self, blob: &BlobInfo, range: Range<u64>) -> RegistryResult<ByteStream> {
        if blob.size > KEEP_BLOBS_UP_TO {
            return Ok(self.blobs.read_blob(&blob.digest, range).await?);
        }
        let bytes = match self.content.get(&blob.digest) {
            Some(bytes) => bytes,
            None => {
                let bytes = read_blob_to_bytes(self.blobs.as_ref(), &blob.digest, blob.size).await?;
                self.content.keep(&blob.digest, &bytes);
                bytes
            }
        };
        let end = usize::try_from(range.end).map_or(bytes.len(), |end| end.min(bytes.len()));
        let start = usize::try_from(range.start).map_or(end, |start| start.min(end));
        Ok(futures::stream::iter([Ok(bytes.slice(start..end))]).boxed())
    }

    /// Removes the blob from the repository. Its bytes stay while anything may use them.
    pub async fn delete_blob(&self, name: &RepositoryName, digest: &Digest) -> RegistryResult<()> {
        if !self.config.delete_blobs {
            return Err(RegistryError::unsupported("blob deletion is disabled on this registry"));
        }
        if self.meta.unlink_blob(name, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::new(
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in repository {name}"),
            ))
        }
    }
}
