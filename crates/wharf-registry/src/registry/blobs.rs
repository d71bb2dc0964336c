//! Reading and deleting blobs of a repository.

use super::content_cache::KEEP_BLOBS_UP_TO;
use super::{Registry, RegistryError, RegistryResult};
use crate::storage::{range_of, read_blob_to_bytes, ByteStream};
use bytes::Bytes;
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

    /// The bytes of `blob` in `range` (end exclusive): a small blob from memory (see
    /// [`Registry::kept_content`]), others streamed from storage.
    pub async fn blob_bytes(&self, blob: &BlobInfo, range: Range<u64>) -> RegistryResult<ByteStream> {
        if blob.size > KEEP_BLOBS_UP_TO {
            return Ok(self.blobs.read_blob(&blob.digest, range).await?);
        }
        let bytes = self.kept_content(&blob.digest, blob.size).await?;
        Ok(range_of(&bytes, range))
    }

    /// The whole content `digest` (of `size` bytes, a manifest or a small blob): kept in
    /// memory, or read from storage and kept from now on (see [`super::content_cache`]).
    pub(super) async fn kept_content(&self, digest: &Digest, size: u64) -> RegistryResult<Bytes> {
        if let Some(bytes) = self.content.get(digest) {
            return Ok(bytes);
        }
        let bytes = read_blob_to_bytes(self.blobs.as_ref(), digest, size).await?;
        self.content.keep(digest, &bytes);
        Ok(bytes)
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
