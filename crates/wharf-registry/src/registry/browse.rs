//! What the web UI reads: listings with their manifests in one metadata call each, and
//! small blobs (image configs) whole, never a layer.

use super::{Registry, RegistryResult};
use crate::meta::{ManifestDetail, RepositorySummary, TagCursor, TagDetail, TagOrder};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName};

impl Registry {
    /// Every tag of `name` with its manifest and last push (NAME_UNKNOWN if it holds
    /// nothing).
    pub async fn tag_details(&self, name: &RepositoryName) -> RegistryResult<Vec<TagDetail>> {
        self.require_repository(name).await?;
        Ok(self.meta.tag_details(name).await?)
    }

    /// One page of the tags of `name` in `order` after `after` (see
    /// [`crate::meta::MetaStore::tag_page`]); NAME_UNKNOWN if it holds nothing.
    pub async fn tag_page(
        &self,
        name: &RepositoryName,
        order: TagOrder,
        after: Option<&TagCursor>,
        limit: usize,
    ) -> RegistryResult<Vec<TagDetail>> {
        self.require_repository(name).await?;
        Ok(self.meta.tag_page(name, order, after, limit).await?)
    }

    /// Records that the web UI's session `id` is signed out, on every replica that
    /// shares the metadata store, until `expires`.
    pub async fn revoke_ui_session(&self, id: &str, expires: SystemTime) -> RegistryResult<()> {
        Ok(self.meta.revoke_session(id, expires).await?)
    }

    /// Whether the web UI's session `id` was signed out.
    pub async fn ui_session_revoked(&self, id: &str) -> RegistryResult<bool> {
        Ok(self.meta.session_revoked(id).await?)
    }

    /// The manifests of `name` no tag points at.
    pub async fn untagged_manifests(&self, name: &RepositoryName) -> RegistryResult<Vec<ManifestDetail>> {
        self.require_repository(name).await?;
        Ok(self.meta.untagged_manifests(name).await?)
    }

    /// Tag count and last push of `name`.
    pub async fn repository_summary(&self, name: &RepositoryName) -> RegistryResult<RepositorySummary> {
        Ok(self.meta.repository_summary(name).await?)
    }

    /// Bytes linked into `name`, each blob once (what its quota counts).
    pub async fn repository_usage(&self, name: &RepositoryName) -> RegistryResult<u64> {
        Ok(self.meta.repository_usage(name).await?)
    }

    /// The whole blob `digest` of `name` when it is at most `cap` bytes (`None` when
    /// larger: it is not read). BLOB_UNKNOWN when the repository does not hold it.
    pub async fn small_blob(&self, name: &RepositoryName, digest: &Digest, cap: u64) -> RegistryResult<Option<Bytes>> {
        let blob = self.blob(name, digest).await?;
        if blob.size > cap {
            return Ok(None);
        }
        let mut stream = self.blob_bytes(&blob, 0..blob.size).await?;
        let mut bytes = BytesMut::with_capacity(blob.size as usize);
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(Some(bytes.freeze()))
    }
}
