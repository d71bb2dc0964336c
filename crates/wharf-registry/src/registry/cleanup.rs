//! Removal of upload sessions that clients abandoned.

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

    /// Removes upload bytes that no session owns (left by a crash between the two
    /// writes that start an upload). Run at start-up, before requests are served.
    pub async fn remove_orphan_uploads(&self) -> RegistryResult<usize> {
        let mut removed = 0;
        for id in self.blobs.list_uploads().await? {
            if self.meta.upload(&id).await?.is_some() {
                continue;
            }
            self.blobs.delete_upload(&id).await?;
            removed += 1;
        }
        Ok(removed)
    }
}
