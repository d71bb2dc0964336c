//! Blobs: existence checks, streamed and verified downloads, resumable uploads,
//! cross-repository mounts, deletes.

mod pull;
mod push;
mod remote;
mod resume;
mod sink;
mod source;

pub use push::{PushedBlob, PushedHow};
pub use remote::RemoteBlob;
pub use resume::ResumeStore;
pub use sink::BlobSink;
pub use source::{BlobSource, ByteStream, BytesSource, FileSource};

use crate::auth::Scopes;
use crate::client::{Call, Client};
use crate::error::Result;
use crate::reference::Repository;
use http::Method;
use wharf_oci::{Digest, Endpoint};

impl Client {
    /// The blob's size if the repository has it, `None` if not.
    pub async fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<Option<u64>> {
        self.blob_size_as(repo, digest, "pull").await
    }

    /// `blob_exists`, asked with the scope of the operation it is part of, so that a
    /// push needs one token, not one to look and another to write.
    pub(crate) async fn blob_size_as(&self, repo: &Repository, digest: &Digest, actions: &str) -> Result<Option<u64>> {
        let call = self.blob_call(repo, digest, Method::HEAD, actions);
        let response = self.send(&call).await?;
        match response.status().as_u16() {
            // A HEAD's body is empty, so the size is read from the header itself.
            200..=299 => Ok(Some(
                crate::client::header_str(&response, "content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(self.error_from(&call, response).await),
        }
    }

    /// Removes the blob from the repository.
    pub async fn delete_blob(&self, repo: &Repository, digest: &Digest) -> Result<()> {
        let call = self.blob_call(repo, digest, Method::DELETE, "delete");
        let response = self.send(&call).await?;
        if !response.status().is_success() {
            return Err(self.error_from(&call, response).await);
        }
        Ok(())
    }

    pub(crate) fn blob_call(&self, repo: &Repository, digest: &Digest, method: Method, actions: &str) -> Call {
        let endpoint = Endpoint::Blob {
            name: repo.name.clone(),
            digest: digest.clone(),
        };
        Call::new(
            &repo.registry,
            method,
            self.url(&repo.registry, &endpoint),
            Scopes::repository(repo.name.as_str(), actions),
        )
    }
}
