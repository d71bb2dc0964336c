//! Blob uploads: start (with mount and single-POST), chunks, status, finish, cancel.
//!
//! Bytes go from the request body through the hasher into the blob store in one pass.
//! The session (offset and hasher state) is recorded only after its bytes are stored.
//! A body that breaks off or stalls past the body timeout keeps what arrived: the
//! session is advanced over it and the error answer carries the upload's `Range`, so the
//! client resumes from there. A body refused for its length (more than announced, over
//! the chunk limit) leaves the session as it was before that chunk. Bytes an append
//! stored but could not record (the process stopped mid-request) are accounted when
//! the registry starts again ([`Registry::account_interrupted_uploads`]).

use super::error::space_available;
use super::hashing::{BodyFault, HashingBody};
use super::{BlobInfo, Registry, RegistryError, RegistryResult, UploadPosition};
use crate::meta::{Refusal, UploadSession};
use crate::storage::ByteStream;
use bytes::BytesMut;
use futures::{StreamExt, TryStreamExt};
use std::time::SystemTime;
use wharf_oci::{Algorithm, Digest, DigestHasher, Endpoint, ErrorCode, RepositoryName};

/// What a POST to `/v2/<name>/blobs/uploads/` asks for.
pub struct StartUpload {
    /// `?digest=`: the body is the whole blob (single POST).
    pub digest: Option<Digest>,
    /// `?digest-algorithm=`.
    pub algorithm: Option<Algorithm>,
    /// `?mount=` and `?from=`.
    pub mount: Option<Digest>,
    pub from: Option<RepositoryName>,
    pub body: ByteStream,
    pub content_length: Option<u64>,
}

/// How an upload start ended.
pub enum Started {
    /// The blob is in the repository (mounted, or pushed whole): 201.
    Blob(BlobInfo),
    /// A session is open: 202.
    Session(UploadPosition),
}

/// The `Content-Range` of a chunk: first and last byte, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub first: u64,
    pub last: u64,
}

/// The largest blob a closing request may carry whole to be stored in one step
/// ([`Registry::finish_whole`]); larger ones stream through the upload file.
const WHOLE_IN_MEMORY: u64 = 1024 * 1024;

fn upload_unknown(id: &str) -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUploadUnknown,
        format!("upload {id} is not known (finished, cancelled, expired, or never started)"),
    )
}

fn position(session: &UploadSession) -> UploadPosition {
    let endpoint = Endpoint::Upload {
        name: session.repository.clone(),
        session: session.id.clone(),
    };
    UploadPosition {
        location: endpoint.path(),
        offset: session.offset,
    }
}

impl Registry {
    pub async fn start_upload(&self, name: &RepositoryName, start: StartUpload) -> RegistryResult<Started> {
        self.admit_push(name)?;
        if let Some(digest) = &start.mount {
            if let Some(blob) = self.try_mount(name, digest, start.from.as_ref()).await? {
                return Ok(Started::Blob(blob));
            }
        }
        let algorithm = start
            .digest
            .as_ref()
            .map(Digest::algorithm)
            .or(start.algorithm)
            .unwrap_or(Algorithm::Sha256);
        let session = self.open_session(name, algorithm).await?;
        match start.digest {
            Some(digest) => {
                let id = session.id.clone();
                // No client knows this session yet: no other request can hold it.
                let finished = self
                    .finish_leased(name, &id, Some(digest), None, start.content_length, start.body, None)
                    .await;
                if finished.is_err() {
                    // No client knows this session's location: nothing could resume it.
                    self.discard(&id).await;
                }
                Ok(Started::Blob(finished?))
            }
            None => Ok(Started::Session(position(&session))),
        }
    }

    /// Links `digest` into `name` if `from` (or, when allowed, any repository) has it.
    async fn try_mount(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> RegistryResult<Option<BlobInfo>> {
        let size = match from {
            Some(from) => self.meta.linked_blob(from, digest).await?,
            None if self.config.mount_without_from => self.meta.known_blob(digest).await?,
            None => None,
        };
        let Some(size) = size else { return Ok(None) };
        self.admit_bytes(name, Some(digest), size).await?;
        // The metadata may outlive bytes removed or damaged outside wharf (or set aside
        // as damaged): mount only what is there whole; an upload then stores it again.
        if self.blobs.blob_size(digest).await? != Some(size) {
            return Ok(None);
        }
        // A blob the collector is removing is not mounted: the client uploads it.
        let limits = self.config.policies.limits_for(name);
        match self
            .apply(crate::meta::Change::LinkBlob {
                repo: name,
                digest,
                size,
                limits,
            })
            .await
            .map(|_| ())
        {
            Err(e) if matches!(e.refusal(), Some(Refusal::OverQuota { .. })) => return Err(self.quota_answer(name, e)),
            Err(e) if e.refusal().is_some() => return Ok(None),
            linked => linked?,
        }
        Ok(Some(BlobInfo {
            digest: digest.clone(),
            size,
        }))
    }

    pub(super) async fn open_session(
        &self,
        name: &RepositoryName,
        algorithm: Algorithm,
    ) -> RegistryResult<UploadSession> {
        let session = UploadSession {
            id: uuid::Uuid::new_v4().to_string(),
            repository: name.clone(),
            offset: 0,
            algorithm,
            hasher_state: algorithm.hasher().save_state(),
            updated: SystemTime::now(),
        };
        // The session's row first: upload bytes without one are what the collector
        // and `maintenance::RemoveOrphanUploads` remove, so they must never exist before it.
        self.meta.create_upload(&session).await?;
        self.blobs.create_upload(&session.id).await?;
        Ok(session)
    }

    async fn session(&self, name: &RepositoryName, id: &str) -> RegistryResult<UploadSession> {
        match self.meta.upload(id).await? {
            Some(s) if &s.repository == name => Ok(s),
            _ => Err(upload_unknown(id)),
        }
    }

    /// Where upload `id` stands (end-13).
    pub async fn upload_status(&self, name: &RepositoryName, id: &str) -> RegistryResult<UploadPosition> {
        Ok(position(&self.session(name, id).await?))
    }

    /// Appends one chunk (end-5).
    pub async fn upload_chunk(
        &self,
        name: &RepositoryName,
        id: &str,
        range: Option<ChunkRange>,
        content_length: Option<u64>,
        body: ByteStream,
    ) -> RegistryResult<UploadPosition> {
        let guard = self.upload_locks.lock_taking_over(id).await;
        let lease = self.lease_session(id, guard.take_over_signal()).await?;
        let body = guard.until_superseded(body);
        let appended = async {
            let mut session = self.session(name, id).await?;
            let expected = self.chunk_length(&session, range, content_length)?;
            self.admit_bytes(name, None, session.offset + expected.unwrap_or(0))
                .await?;
            self.append(&mut session, expected, body, None, None, Some(lease.holder()))
                .await?;
            Ok(position(&session))
        }
        .await;
        lease.release().await;
        appended
    }

    /// Closes an upload with the digest of the whole blob, after an optional last chunk
    /// (end-6, and single POST).
    pub async fn finish_upload(
        &self,
        name: &RepositoryName,
        id: &str,
        digest: Option<Digest>,
        range: Option<ChunkRange>,
        content_length: Option<u64>,
        body: ByteStream,
    ) -> RegistryResult<BlobInfo> {
        let guard = self.upload_locks.lock_taking_over(id).await;
        let lease = self.lease_session(id, guard.take_over_signal()).await?;
        let body = guard.until_superseded(body);
        let finished = self
            .finish_leased(name, id, digest, range, content_length, body, Some(lease.holder()))
            .await;
        lease.release().await;
        finished
    }

    /// [`Self::finish_upload`] once the session is the caller's: it holds the session's
    /// lock and the lease `holder` (`None` for a session no client knows yet).
    #[allow(clippy::too_many_arguments)]
    async fn finish_leased(
        &self,
        name: &RepositoryName,
        id: &str,
        digest: Option<Digest>,
        range: Option<ChunkRange>,
        content_length: Option<u64>,
        body: ByteStream,
        holder: Option<&str>,
    ) -> RegistryResult<BlobInfo> {
        let mut session = self.session(name, id).await?;
        let digest = digest.ok_or_else(|| {
            RegistryError::new(
                ErrorCode::DigestInvalid,
                "the closing PUT of an upload needs ?digest=<digest of the whole blob>",
            )
        })?;
        if content_length != Some(0) {
            let expected = self.chunk_length(&session, range, content_length)?;
            self.admit_bytes(name, Some(&digest), session.offset + expected.unwrap_or(0))
                .await?;
            if let Some(len) = expected.filter(|len| session.offset == 0 && *len <= WHOLE_IN_MEMORY) {
                return self.finish_whole(name, &session, digest, len, body, holder).await;
            }
            let switch_to =
                (session.offset == 0 && session.algorithm != digest.algorithm()).then(|| digest.algorithm());
            // The whole blob in this request: the store may stream it straight into place.
            let whole = (session.offset == 0).then_some(&digest);
            self.append(&mut session, expected, body, switch_to, whole, holder)
                .await?;
        }
        let computed = if session.algorithm == digest.algorithm() {
            self.restore_hasher(&session)?.finish()
        } else {
            self.rehash(&session, digest.algorithm()).await?
        };
        if computed != digest {
            self.discard(id).await;
            return Err(digest_mismatch(session.offset, &computed, &digest));
        }
        self.admit_bytes(name, Some(&digest), session.offset).await?;
        self.claim_blob(&digest, session.offset).await?;
        self.blobs.commit_upload(id, session.offset, &digest).await?;
        self.complete(name, id, &digest, session.offset).await?;
        space_available();
        self.damage.repaired(&digest);
        Ok(BlobInfo {
            digest,
            size: session.offset,
        })
    }

    /// Closes an empty upload whose closing request carries the whole blob, of at most
    /// [`WHOLE_IN_MEMORY`] bytes (a monolithic push or a single POST of a small blob):
    /// the body is gathered and hashed in memory and stored with one call to each store,
    /// where the general path appends, records the session, commits and links.
    async fn finish_whole(
        &self,
        name: &RepositoryName,
        session: &UploadSession,
        digest: Digest,
        len: u64,
        body: ByteStream,
        holder: Option<&str>,
    ) -> RegistryResult<BlobInfo> {
        let mut source = HashingBody::new(
            body,
            digest.algorithm().hasher(),
            Some(len),
            self.config.chunk_max_length,
        );
        let mut bytes = BytesMut::with_capacity(len as usize);
        while let Some(Ok(piece)) = source.next().await {
            bytes.extend_from_slice(&piece);
        }
        match source.fault.take() {
            None => {}
            Some(fault @ (BodyFault::TooLong { .. } | BodyFault::OverLimit { .. })) => return Err(body_fault(fault)),
            // Cut off or stalled: what arrived is kept in the session, as a chunk would be.
            Some(fault) => {
                let mut session = session.clone();
                let arrived = bytes.len() as u64;
                let mut prefix = futures::stream::iter([Ok(bytes.freeze())]);
                let written = self.blobs.append_upload(&session.id, 0, &mut prefix).await?;
                debug_assert_eq!(written, arrived);
                self.advance(&mut session, written, source.hasher, holder).await?;
                return Err(body_fault(fault).resumable(position(&session)));
            }
        }
        let computed = source.hasher.finish();
        if computed != digest {
            self.discard(&session.id).await;
            return Err(digest_mismatch(len, &computed, &digest));
        }
        self.claim_blob(&digest, len).await?;
        match self
            .blobs
            .commit_whole_upload(&session.id, bytes.freeze(), &digest)
            .await
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(upload_unknown(&session.id)),
            stored => stored?,
        }
        self.complete(name, &session.id, &digest, len).await?;
        space_available();
        self.damage.repaired(&digest);
        Ok(BlobInfo { digest, size: len })
    }

    /// Links a committed upload's blob and ends its session. Refused when the collector
    /// took the blob between claim and link (only with a grace period shorter than a
    /// commit): the session, whose bytes the commit consumed, is discarded.
    async fn complete(&self, name: &RepositoryName, id: &str, digest: &Digest, size: u64) -> RegistryResult<()> {
        let limits = self.config.policies.limits_for(name);
        let completed = self
            .apply(crate::meta::Change::CompleteUpload {
                id,
                repo: name,
                digest,
                size,
                limits,
            })
            .await
            .map(|_| ());
        if completed.as_ref().is_err_and(|e| e.refusal().is_some()) {
            self.discard(id).await;
        }
        completed.map_err(|e| self.quota_answer(name, e))
    }

    /// Cancels an upload (end-14).
    pub async fn cancel_upload(&self, name: &RepositoryName, id: &str) -> RegistryResult<()> {
        let guard = self.upload_locks.lock_taking_over(id).await;
        let lease = self.lease_session(id, guard.take_over_signal()).await?;
        let cancelled = async {
            self.session(name, id).await?;
            self.meta.delete_upload(id).await?;
            self.blobs.delete_upload(id).await?;
            Ok(())
        }
        .await;
        lease.release().await;
        cancelled
    }

    /// Removes a session and its bytes, ignoring failures (they leave only garbage that
    /// the expiry sweep removes later).
    pub(super) async fn discard(&self, id: &str) {
        if let Err(e) = self.meta.delete_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not remove upload session");
        }
        if let Err(e) = self.blobs.delete_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not remove upload bytes");
        }
    }

    fn restore_hasher(&self, session: &UploadSession) -> RegistryResult<DigestHasher> {
        DigestHasher::restore_state(session.algorithm, &session.hasher_state).ok_or_else(|| {
            RegistryError::internal(
                "restoring an upload's hash state",
                format!("upload {} has a damaged hasher state", session.id),
            )
        })
    }

    /// Hashes the stored upload again with another algorithm (a client that announced
    /// none and closes with a sha512 digest after sending chunks).
    async fn rehash(&self, session: &UploadSession, algorithm: Algorithm) -> RegistryResult<Digest> {
        let mut hasher = algorithm.hasher();
        let mut stream = self.blobs.read_upload(&session.id, session.offset).await?;
        while let Some(chunk) = stream.try_next().await? {
            hasher.update(&chunk);
        }
        Ok(hasher.finish())
    }

    /// The length a chunk announces (by `Content-Range`, else `Content-Length`), checked
    /// against the session's offset, against itself and against the chunk limit.
    fn chunk_length(
        &self,
        session: &UploadSession,
        range: Option<ChunkRange>,
        content_length: Option<u64>,
    ) -> RegistryResult<Option<u64>> {
        let expected = match range {
            Some(r) => {
                if r.first != session.offset {
                    return Err(RegistryError::out_of_order(position(session), r.first));
                }
                if r.last < r.first {
                    return Err(RegistryError::out_of_order(position(session), r.first)
                        .with_detail(serde_json::json!({"reason": "Content-Range ends before it starts"})));
                }
                // 0-18446744073709551615 is 2^64 bytes: more than any body can hold.
                let Some(len) = (r.last - r.first).checked_add(1) else {
                    return Err(RegistryError::new(
                        ErrorCode::SizeInvalid,
                        format!(
                            "Content-Range {}-{} covers more bytes than a blob may hold",
                            r.first, r.last
                        ),
                    ));
                };
                if content_length.is_some_and(|cl| cl != len) {
                    return Err(RegistryError::new(
                        ErrorCode::SizeInvalid,
                        format!(
                            "Content-Range {}-{} covers {len} bytes but Content-Length is {}",
                            r.first,
                            r.last,
                            content_length.unwrap_or(0)
                        ),
                    ));
                }
                Some(len)
            }
            None => content_length,
        };
        if let (Some(limit), Some(len)) = (self.config.chunk_max_length, expected) {
            if len > limit {
                return Err(chunk_too_large(limit));
            }
        }
        Ok(expected)
    }

    /// Streams one chunk of `expected` bytes (when announced, see [`Self::chunk_length`])
    /// into the upload and records the new offset and hash state, as the session's lease
    /// `holder`. With `whole`, the chunk is the whole blob of that digest, given to the
    /// store's [`append_whole_upload`](crate::storage::BlobStore::append_whole_upload).
    async fn append(
        &self,
        session: &mut UploadSession,
        expected: Option<u64>,
        body: ByteStream,
        switch_algorithm: Option<Algorithm>,
        whole: Option<&Digest>,
        holder: Option<&str>,
    ) -> RegistryResult<()> {
        let limit = self.config.chunk_max_length;
        let hasher = match switch_algorithm {
            Some(algorithm) => {
                session.algorithm = algorithm;
                algorithm.hasher()
            }
            None => self.restore_hasher(session)?,
        };
        let mut source = HashingBody::new(body, hasher, expected, limit);
        let stored = match whole {
            Some(digest) => self.blobs.append_whole_upload(&session.id, digest, &mut source).await,
            None => self.blobs.append_upload(&session.id, session.offset, &mut source).await,
        };
        let fault = source.fault.take();
        let written = match stored {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(upload_unknown(&session.id)),
            Err(e) => return Err(e.into()),
        };
        match fault {
            // A refused body is not kept: the session stays where it was (the bytes the
            // store took past its offset are dropped by the next append).
            Some(fault @ (BodyFault::TooLong { .. } | BodyFault::OverLimit { .. })) => Err(body_fault(fault)),
            // A whole blob the store dropped when its body broke off: the session stays
            // empty, and the client is told to start over.
            Some(fault) if whole.is_some() && written == 0 => Err(body_fault(fault).resumable(position(session))),
            // Cut off or stalled: what arrived is kept, and the client told where to resume.
            Some(fault) => {
                self.advance(session, written, source.hasher, holder).await?;
                Err(body_fault(fault).resumable(position(session)))
            }
            None => self.advance(session, written, source.hasher, holder).await,
        }
    }

    /// Records `written` more bytes of `session`, hashed into `hasher`, if `holder`
    /// still holds its lease (and nothing else moved it).
    async fn advance(
        &self,
        session: &mut UploadSession,
        written: u64,
        hasher: DigestHasher,
        holder: Option<&str>,
    ) -> RegistryResult<()> {
        let previous = session.offset;
        session.offset += written;
        session.hasher_state = hasher.save_state();
        session.updated = SystemTime::now();
        if !self.meta.advance_leased_upload(session, previous, holder).await? {
            return Err(RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                "the upload was changed by another request at the same time; ask for its status and resume",
            )
            .with_status(409));
        }
        space_available();
        Ok(())
    }
}

fn digest_mismatch(size: u64, computed: &Digest, expected: &Digest) -> RegistryError {
    RegistryError::new(
        ErrorCode::DigestInvalid,
        format!("the uploaded {size} bytes have digest {computed}, not {expected}; the upload was discarded"),
    )
}

fn chunk_too_large(limit: u64) -> RegistryError {
    RegistryError::new(
        ErrorCode::SizeInvalid,
        format!("a chunk may hold at most {limit} bytes on this registry; send smaller chunks"),
    )
    .with_status(413)
}

fn body_fault(fault: BodyFault) -> RegistryError {
    match fault {
        BodyFault::TooLong { expected } => RegistryError::new(
            ErrorCode::SizeInvalid,
            format!("the body holds more than the {expected} bytes announced; nothing was stored"),
        ),
        BodyFault::TooShort { expected, got } => RegistryError::new(
            ErrorCode::SizeInvalid,
            format!("the body ended after {got} of the {expected} bytes announced"),
        ),
        BodyFault::OverLimit { limit } => chunk_too_large(limit),
        BodyFault::Interrupted(e) => RegistryError::new(
            ErrorCode::BlobUploadInvalid,
            format!("the request body could not be read ({e})"),
        ),
    }
}
