//! A blob in another repository or registry as the source of a push, streamed straight
//! from one to the other: copies need no temporary files.

use super::source::{BlobSource, ByteStream};
use crate::client::Client;
use crate::error::Result;
use crate::reference::Repository;
use futures::future::BoxFuture;
use wharf_oci::Digest;

/// A blob read from `repository` through `client`.
pub struct RemoteBlob {
    client: Client,
    repository: Repository,
    digest: Digest,
    size: u64,
}

impl RemoteBlob {
    pub fn new(client: Client, repository: Repository, digest: Digest, size: u64) -> RemoteBlob {
        RemoteBlob {
            client,
            repository,
            digest,
            size,
        }
    }
}

impl BlobSource for RemoteBlob {
    fn digest(&self) -> &Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.size
    }
    /// The destination checks the digest of what arrives; the source only has to
    /// deliver the right byte range.
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        Box::pin(self.client.open_blob_at(&self.repository, &self.digest, offset))
    }
}
