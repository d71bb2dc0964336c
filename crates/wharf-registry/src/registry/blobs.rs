//! Reading and deleting blobs of a repository.

use super::{Registry, RegistryError, RegistryResult};
use crate::storage::ByteStream;
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

    /// The bytes of `blob` in `range` (end exclusive), streamed from storage.
    pub async fn blob_bytes(&self, blob: &BlobInfo, range: Range<u64>) -> RegistryResult<ByteStream> {
        Ok(self.blobs.read_blob(&blob.digest, range).await?)
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
