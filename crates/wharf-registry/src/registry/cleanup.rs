//! Removal of upload sessions that clients abandoned, and of upload bytes no session
//! owns ([`crate::maintenance`] runs them periodically); accounting, at start, of bytes
//! a session did not get to record.

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

    /// Accounts the bytes each upload holds past its session's offset (an append cut
    /// off before it could record them: the process was stopped mid-request, at the end
    /// of a graceful shutdown or by a crash), so that the session resumes from what is
    /// stored. Run at start-up, before requests are served. Returns how many sessions
    /// moved.
    pub async fn account_interrupted_uploads(&self) -> RegistryResult<usize> {
        let mut moved = 0;
        for id in self.blobs.list_uploads().await? {
            if let Some(session) = self.meta.upload(&id).await? {
                if self.account_unrecorded_bytes(session).await? {
                    moved += 1;
                }
            }
        }
        Ok(moved)
    }

    /// Moves `session` over the bytes its upload holds past its offset: they are hashed
    /// (read from the store), made durable, then recorded.
    async fn account_unrecorded_bytes(&self, session: UploadSession) -> RegistryResult<bool> {
        let _guard = self.upload_locks.lock(&session.id).await;
        // A request on another replica may be appending right now: its bytes are its to
        // record. Accounted only while nobody holds the session's lease.
        let Some(lease) = self.try_lease_session(&session.id).await? else {
            return Ok(false);
        };
        let accounted = self.account_leased(session, lease.holder()).await;
        lease.release().await;
        accounted
    }

    async fn account_leased(&self, mut session: UploadSession, holder: &str) -> RegistryResult<bool> {
        // Read again under the lease: a request that held it may have moved it.
        match self.meta.upload(&session.id).await? {
            Some(current) => session = current,
            None => return Ok(false),
        }
        let held = self.blobs.upload_len(&session.id).await?;
        if held <= session.offset {
            return Ok(false);
        }
        let Some(mut hasher) = DigestHasher::restore_state(session.algorithm, &session.hasher_state) else {
            return Ok(false);
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
        let advanced = self
            .meta
            .advance_leased_upload(&session, previous, Some(holder))
            .await?;
        if advanced {
            tracing::info!(
                upload = %session.id,
                bytes = held - previous,
                "kept the bytes an upload cut off by the last stop had stored"
            );
        }
        Ok(advanced)
    }
}
