//! Removal of upload sessions that clients abandoned, and of upload bytes no session
//! owns. [`crate::maintenance`] runs them periodically.

use super::{Registry, RegistryResult};
use std::time::SystemTime;

impl Registry {
    /// Removes sessions idle for longer than the configured time to live. Returns how
    /// many were removed.
    pub async fn expire_uploads(&self, now: SystemTime) -> RegistryResult<usize> {
        let cutoff = now
            .checked_sub(self.config.upload_ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let idle = self.meta.idle_uploads(cutoff).await?;
        for id in &idle {
            let _guard = self.upload_locks.lock(id).await;
            self.discard(id).await;
        }
        Ok(idle.len())
    }

    /// The uploads the blob store holds bytes of but that have no session (left by a
    /// crash between the two writes that open an upload, or being opened right now).
    pub async fn uploads_without_session(&self) -> RegistryResult<Vec<String>> {
        let mut orphans = Vec::new();
        for id in self.blobs.list_uploads().await? {
            if self.meta.upload(&id).await?.is_none() {
                orphans.push(id);
            }
        }
        Ok(orphans)
    }

    /// Removes the bytes of upload `id` if it still has no session; whether it did.
    /// [`maintenance::RemoveOrphanUploads`](crate::maintenance::RemoveOrphanUploads)
    /// calls it only for uploads found without a session a while before, so that a
    /// session being opened is never robbed of its bytes.
    pub async fn remove_upload_without_session(&self, id: &str) -> RegistryResult<bool> {
        let _guard = self.upload_locks.lock(id).await;
        if self.meta.upload(id).await?.is_some() {
            return Ok(false);
        }
        self.blobs.delete_upload(id).await?;
        Ok(true)
    }
}
