//! Removal of upload sessions that clients abandoned, and of upload bytes no session
//! owns; accounting of bytes a session did not get to record.

use super::{Registry, RegistryResult};
use crate::meta::UploadSession;
use futures::TryStreamExt;
use std::time::SystemTime;
use wharf_oci::DigestHasher;

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
    /// writes that start an upload), and accounts bytes an upload holds past its
    /// session's offset (an append cut off before it could record them: the process
    /// was stopped mid-request, at the end of a graceful shutdown or by a crash), so
    /// that the session resumes from what is on disk. Run at start-up, before requests
    /// are served. Returns how many uploads were removed.
    pub async fn remove_orphan_uploads(&self) -> RegistryResult<usize> {
        let mut removed = 0;
        for id in self.blobs.list_uploads().await? {
            match self.meta.upload(&id).await? {
                Some(session) => self.account_unrecorded_bytes(session).await?,
                None => {
                    self.blobs.delete_upload(&id).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Moves `session` over the bytes its upload holds past its offset: they are hashed
    /// (read from the store), made durable, then recorded.
    async fn account_unrecorded_bytes(&self, mut session: UploadSession) -> RegistryResult<()> {
        let _guard = self.upload_locks.lock(&session.id).await;
        let held = self.blobs.upload_len(&session.id).await?;
        if held <= session.offset {
            return Ok(());
        }
        let Some(mut hasher) = DigestHasher::restore_state(session.algorithm, &session.hasher_state) else {
            return Ok(());
        };
        let mut stream = self.blobs.read_upload(&session.id, held).await?;
        let mut skip = session.offset;
        let mut read = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            let start = skip.min(chunk.len() as u64) as usize;
            skip -= start as u64;
            hasher.update(&chunk[start..]);
            read += (chunk.len() - start) as u64;
        }
        // An empty append makes what the upload holds durable before it is recorded.
        let held = session.offset + read;
        self.blobs
            .append_upload(&session.id, held, &mut futures::stream::empty())
            .await?;
        let previous = session.offset;
        session.offset = held;
        session.hasher_state = hasher.save_state();
        session.updated = SystemTime::now();
        if self.meta.advance_upload(&session, previous).await? {
            tracing::info!(
                upload = %session.id,
                bytes = held - previous,
                "kept the bytes an upload cut off by the last stop had stored"
            );
        }
        Ok(())
    }
}
