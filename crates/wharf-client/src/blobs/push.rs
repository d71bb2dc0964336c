//! Uploads: skipped when the repository has the blob, mounted from another repository
//! when the caller knows one that has it, otherwise sent in one request or in chunks.
//! An upload that fails halfway asks the registry how much it kept (the session's
//! `Range`) and goes on from there.

use super::source::{BlobSource, ByteStream};
use crate::auth::Scopes;
use crate::client::{header_str, Call, Client, TimeLimit};
use crate::error::{Error, Result};
use crate::progress::{ProgressState, Reporter};
use crate::reference::Repository;
use crate::retry::is_retryable_status;
use futures::StreamExt;
use http::{header, Method};
use wharf_oci::{Digest, Endpoint};

/// How a blob got into the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedHow {
    /// It was there already; nothing was sent.
    Existed,
    /// The registry linked it from the repository it was mounted from.
    Mounted,
    /// Its bytes were uploaded.
    Uploaded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedBlob {
    pub digest: Digest,
    pub size: u64,
    pub how: PushedHow,
}

/// An upload session: where to send the next request, and the smallest chunk the
/// registry wants.
pub(crate) struct Session {
    pub(crate) location: url::Url,
    pub(crate) min_chunk: u64,
}

/// Whether a failed attempt is worth resuming.
fn resumable(e: &Error) -> bool {
    match e {
        Error::Transport { .. } => true,
        // A session the registry dropped (Distribution drops one a cut request spoilt)
        // is found gone by the status request that follows, and a new one started.
        Error::Registry {
            status: 404,
            code: Some(code),
            ..
        } => code == "BLOB_UPLOAD_UNKNOWN" || code == "BLOB_UPLOAD_INVALID",
        Error::Registry { status, .. } => is_retryable_status(*status) || *status == 416 || *status == 401,
        _ => false,
    }
}

impl Client {
    /// Puts a blob into `repo`, from `source`, or by mounting it from `mount_from`.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        source: &dyn BlobSource,
        mount_from: Option<&Repository>,
    ) -> Result<PushedBlob> {
        let digest = source.digest().clone();
        let size = source.size();
        let reporter = Reporter::new(self.inner.config.progress.clone(), &digest, size);
        let done = |how| PushedBlob {
            digest: digest.clone(),
            size,
            how,
        };
        if self.blob_size_as(repo, &digest, "pull,push").await?.is_some() {
            reporter.report(ProgressState::Skipped, size);
            return Ok(done(PushedHow::Existed));
        }
        // An upload an earlier run left unfinished goes on from what its session holds.
        let resumed = self.resume_recorded(repo, &digest, size).await;
        let (mut session, mut offset) = match resumed {
            Some(resumed) => resumed,
            None => {
                // A mount needs both repositories on one registry.
                let mount_from = mount_from.filter(|m| m.registry == repo.registry && m.name != repo.name);
                match self.start_upload(repo, &digest, mount_from).await? {
                    None => {
                        reporter.report(ProgressState::Mounted, size);
                        return Ok(done(PushedHow::Mounted));
                    }
                    Some(s) => (s, 0),
                }
            }
        };
        let resume = self.resume_store(size);
        if let Some(store) = resume {
            store.save(repo, &digest, &session, offset);
        }
        let policy = &self.inner.config.retry;
        let chunk = self
            .inner
            .config
            .chunk_size
            .filter(|c| size > *c)
            .map(|c| c.max(session.min_chunk).max(1));
        let mut failures = 0u32;
        reporter.report(ProgressState::Started, offset);
        loop {
            // Without a chunk size, the rest of a blob the session already holds part of
            // goes in one PATCH (a PUT would have to send it all).
            let attempt = match chunk.or((offset > 0).then_some(size)) {
                None => self.put_whole(repo, &mut session, source, &reporter).await,
                Some(c) => {
                    self.put_chunks(repo, &mut session, source, &mut offset, c, &reporter)
                        .await
                }
            };
            let error = match attempt {
                Ok(()) => {
                    if let Some(store) = resume {
                        store.forget(repo, &digest);
                    }
                    reporter.report(ProgressState::Finished, size);
                    return Ok(done(PushedHow::Uploaded));
                }
                Err(e) if resumable(&e) && failures + 1 < policy.max_attempts => e,
                Err(e) => return Err(e),
            };
            failures += 1;
            tracing::debug!(%error, offset, "blob upload interrupted; resuming");
            tokio::time::sleep(policy.backoff(failures)).await;
            match self.upload_offset(repo, &session, offset).await {
                // A cut PATCH, or a cut PUT of which the registry kept something.
                Ok(Some(kept)) if chunk.is_some() || kept > 0 => offset = kept,
                Ok(_) | Err(_) => {
                    // The session is gone (perhaps because the closing request did
                    // arrive) or a monolithic PUT broke off with nothing kept: see
                    // whether the blob made it, else start over with a fresh session.
                    if self.blob_size_as(repo, &digest, "pull,push").await?.is_some() {
                        if let Some(store) = resume {
                            store.forget(repo, &digest);
                        }
                        reporter.report(ProgressState::Finished, size);
                        return Ok(done(PushedHow::Uploaded));
                    }
                    session = self
                        .start_upload(repo, &digest, None)
                        .await?
                        .ok_or_else(|| Error::Protocol("the registry completed an upload nobody sent".into()))?;
                    offset = 0;
                }
            }
            if let Some(store) = resume {
                store.save(repo, &digest, &session, offset);
            }
            reporter.report(ProgressState::Started, offset);
        }
    }

    /// The session and offset of an upload of `digest` to `repo` that an earlier run
    /// recorded, when the registry still has that session (asked with a GET on it, whose
    /// `Range` says how much arrived). A record the registry no longer knows is removed.
    async fn resume_recorded(&self, repo: &Repository, digest: &Digest, size: u64) -> Option<(Session, u64)> {
        let store = self.resume_store(size)?;
        let record = store.load(repo, digest)?;
        let session = Session {
            location: record.location.parse().ok()?,
            min_chunk: record.min_chunk,
        };
        match self.upload_offset(repo, &session, record.offset).await {
            Ok(Some(kept)) if kept <= size => {
                tracing::debug!(offset = kept, "resuming the upload an earlier run left unfinished");
                Some((session, kept))
            }
            Ok(_) | Err(_) => {
                tracing::debug!("the upload an earlier run left is gone; starting afresh");
                store.forget(repo, digest);
                None
            }
        }
    }

    /// Where an upload of `size` bytes is recorded for a later run, if anywhere: small
    /// blobs are sent again whole rather than cost two file writes each.
    fn resume_store(&self, size: u64) -> Option<&super::ResumeStore> {
        self.inner
            .config
            .resume
            .as_ref()
            .filter(|_| size >= super::resume::RESUMABLE_FROM)
    }

    /// Opens an upload session, or mounts the blob; `None` when the mount succeeded.
    async fn start_upload(
        &self,
        repo: &Repository,
        digest: &Digest,
        mount_from: Option<&Repository>,
    ) -> Result<Option<Session>> {
        let endpoint = Endpoint::UploadStart {
            name: repo.name.clone(),
        };
        let mut url = self.url(&repo.registry, &endpoint);
        let mut scopes = Scopes::repository(repo.name.as_str(), "pull,push");
        if let Some(from) = mount_from {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from.name.as_str());
            scopes = scopes.and_repository(from.name.as_str(), "pull");
        }
        let call = Call::new(&repo.registry, Method::POST, url, scopes).header(header::CONTENT_LENGTH, "0");
        let response = self.send(&call).await?;
        match response.status().as_u16() {
            201 if mount_from.is_some() => Ok(None),
            202 => {
                let location = header_str(&response, "location")
                    .ok_or_else(|| Error::Protocol(format!("{}: 202 without a Location", call.url)))?;
                let location = self.resolve_location(&call.url, location)?;
                let min_chunk = header_str(&response, "oci-chunk-min-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                Ok(Some(Session { location, min_chunk }))
            }
            _ => Err(self.error_from(&call, response).await),
        }
    }

    /// The whole blob in the closing PUT.
    async fn put_whole(
        &self,
        repo: &Repository,
        session: &mut Session,
        source: &dyn BlobSource,
        reporter: &Reporter,
    ) -> Result<()> {
        let stream = source.open(0).await?;
        let body = counted(stream, reporter.clone(), 0);
        let mut url = session.location.clone();
        url.query_pairs_mut()
            .append_pair("digest", &source.digest().to_string());
        let call = self
            .upload_call(repo, Method::PUT, url)
            .limit(TimeLimit::Upload(source.size()))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, &source.size().to_string());
        let response = self.send_streaming(&call, body).await?;
        self.finish_upload(&call, response, source.digest()).await
    }

    /// PATCH chunks from `offset` on, then the closing PUT.
    async fn put_chunks(
        &self,
        repo: &Repository,
        session: &mut Session,
        source: &dyn BlobSource,
        offset: &mut u64,
        chunk: u64,
        reporter: &Reporter,
    ) -> Result<()> {
        let size = source.size();
        while *offset < size {
            let len = chunk.min(size - *offset);
            let stream = limited(source.open(*offset).await?, len);
            let body = counted(stream, reporter.clone(), *offset);
            let call = self
                .upload_call(repo, Method::PATCH, session.location.clone())
                .limit(TimeLimit::Upload(len))
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, &len.to_string())
                .header(header::CONTENT_RANGE, &format!("{}-{}", *offset, *offset + len - 1));
            let response = self.send_streaming(&call, body).await?;
            if response.status() != 202 {
                return Err(self.error_from(&call, response).await);
            }
            if let Some(location) = header_str(&response, "location") {
                session.location = self.resolve_location(&call.url, location)?;
            }
            // The registry's Range is the truth about what it kept.
            *offset = match header_str(&response, "range").and_then(range_end) {
                Some(end) => end + 1,
                None => *offset + len,
            };
            if let Some(store) = self.resume_store(size) {
                store.save(repo, source.digest(), session, *offset);
            }
        }
        let mut url = session.location.clone();
        url.query_pairs_mut()
            .append_pair("digest", &source.digest().to_string());
        let call = self
            .upload_call(repo, Method::PUT, url)
            .header(header::CONTENT_LENGTH, "0");
        let (response, sent) = self.send_raw(&call, None).await?;
        if response.status() == 401 {
            self.answer_unauthorized(&call, &response, sent.as_deref()).await?;
        }
        self.finish_upload(&call, response, source.digest()).await
    }

    async fn finish_upload(&self, call: &Call, response: reqwest::Response, digest: &Digest) -> Result<()> {
        if response.status() != 201 {
            return Err(self.error_from_status(call, response).await);
        }
        if let Some(stored) = header_str(&response, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok()) {
            if &stored != digest {
                return Err(Error::Protocol(format!(
                    "{}: the registry stored the blob as {stored}, not {digest}",
                    call.url
                )));
            }
        }
        Ok(())
    }

    /// How many bytes the session holds: `None` when the session is gone. A `Range` of
    /// `0-0` means nothing unless more than that was already confirmed.
    async fn upload_offset(&self, repo: &Repository, session: &Session, confirmed: u64) -> Result<Option<u64>> {
        let call = self.upload_call(repo, Method::GET, session.location.clone());
        let response = self.send(&call).await?;
        match response.status().as_u16() {
            204 | 200 => Ok(Some(match header_str(&response, "range").and_then(range_end) {
                Some(0) if confirmed == 0 => 0,
                Some(end) => end + 1,
                None => 0,
            })),
            404 => Ok(None),
            _ => Err(self.error_from(&call, response).await),
        }
    }

    fn upload_call(&self, repo: &Repository, method: Method, url: url::Url) -> Call {
        Call::new(
            &repo.registry,
            method,
            url,
            Scopes::repository(repo.name.as_str(), "pull,push"),
        )
    }

    /// Sends a request with a streamed body once; a 401 is answered (a token may have
    /// expired mid-upload) and reported as an error the caller resumes after.
    async fn send_streaming(&self, call: &Call, body: reqwest::Body) -> Result<reqwest::Response> {
        let (response, sent) = self.send_raw(call, Some(body)).await?;
        if response.status() == 401 {
            self.answer_unauthorized(call, &response, sent.as_deref()).await?;
            return Err(self.error_from_status(call, response).await);
        }
        if is_retryable_status(response.status().as_u16()) {
            return Err(self.error_from_status(call, response).await);
        }
        Ok(response)
    }

    /// Like `error_from`, but a 401 stays a registry error (with its status), so the
    /// upload loop can tell it apart and resume.
    async fn error_from_status(&self, call: &Call, response: reqwest::Response) -> Error {
        let status = response.status().as_u16();
        match self.error_from(call, response).await {
            Error::Auth { .. } => Error::Registry {
                method: call.method.to_string(),
                url: call.url.to_string(),
                status,
                code: Some("UNAUTHORIZED".into()),
                message: None,
            },
            other => other,
        }
    }
}

/// The last byte of `0-<end>`.
fn range_end(value: &str) -> Option<u64> {
    let value = value.trim().trim_start_matches("bytes=");
    value.split_once('-')?.1.trim().parse().ok()
}

/// At most `len` bytes of `stream`.
fn limited(stream: ByteStream, len: u64) -> ByteStream {
    futures::stream::unfold((stream, len), |(mut stream, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut piece) => {
                if piece.len() as u64 > remaining {
                    piece.truncate(remaining as usize);
                }
                let left = remaining - piece.len() as u64;
                Some((Ok(piece), (stream, left)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    })
    .boxed()
}

/// A request body that reports progress as the bytes go out.
fn counted(stream: ByteStream, reporter: Reporter, start: u64) -> reqwest::Body {
    let mut sent = start;
    reqwest::Body::wrap_stream(stream.inspect(move |piece| {
        if let Ok(p) = piece {
            sent += p.len() as u64;
            reporter.report(ProgressState::Transferring, sent);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ends() {
        assert_eq!(range_end("0-1023"), Some(1023));
        assert_eq!(range_end("bytes=0-5"), Some(5));
        assert_eq!(range_end("garbage"), None);
    }

    #[tokio::test]
    async fn limited_streams_stop_at_the_length() {
        let stream = futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"abcd")),
            Ok(bytes::Bytes::from_static(b"efgh")),
        ])
        .boxed();
        let pieces: Vec<_> = limited(stream, 6).map(|p| p.unwrap()).collect().await;
        assert_eq!(pieces.concat(), b"abcdef");
    }
}
