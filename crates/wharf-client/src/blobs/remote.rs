//! A blob in another repository or registry as the source of a push, streamed straight
//! from one to the other: copies need no temporary files.

use super::source::{BlobSource, ByteStream};
use crate::client::Client;
use crate::error::Result;
use crate::reference::Repository;
use futures::future::BoxFuture;
use futures::StreamExt;
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
        Box::pin(async move {
            let (stream, skip) = self.client.open_blob_at(&self.repository, &self.digest, offset).await?;
            if skip == 0 {
                return Ok(stream);
            }
            let mut remaining = skip;
            Ok(stream
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
                .boxed())
        })
    }
}
