//! Downloads: streamed into a sink, hashed on the way, resumed with `Range` after a
//! dropped connection, and fetched again from the start when the bytes fail their
//! digest or size check.

use super::sink::BlobSink;
use super::source::ByteStream;
use crate::client::{header_str, transport_error, Client};
use crate::error::{Error, Result};
use crate::progress::{ProgressState, Reporter};
use crate::reference::Repository;
use futures::StreamExt;
use http::{header, Method};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use wharf_oci::{Digest, DigestHasher};

impl Client {
    /// Downloads a blob into `sink` and returns its size. Never reports success for bytes
    /// that do not hash to `digest` (or differ from `size`, when given): such a download
    /// is restarted, and after the retry budget it is an error.
    pub async fn pull_blob<S: BlobSink>(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        sink: &mut S,
    ) -> Result<u64> {
        self.pull_blob_after(repo, digest, size, sink, None).await
    }

    /// [`Client::pull_blob`] into a sink that already holds the blob's first bytes
    /// (`start`: how many, and their hash), which are trusted only until the end: when
    /// the whole fails its digest, the sink starts over and the blob is fetched whole.
    async fn pull_blob_after<S: BlobSink>(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        sink: &mut S,
        mut start: Option<(u64, DigestHasher)>,
    ) -> Result<u64> {
        let policy = &self.inner.config.retry;
        let reporter = Reporter::new(self.inner.config.progress.clone(), digest, size.unwrap_or(0));
        let mut attempt = 1;
        loop {
            reporter.report(ProgressState::Started, start.as_ref().map_or(0, |(n, _)| *n));
            match self.pull_once(repo, digest, size, sink, &reporter, start.take()).await {
                Err(e) if e.is_integrity() && attempt < policy.max_attempts => {
                    if sink.restart().await.is_err() {
                        return Err(e);
                    }
                    tracing::warn!("{e}; downloading it again");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                    attempt += 1;
                }
                Ok(n) => {
                    reporter.report(ProgressState::Finished, n);
                    return Ok(n);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Downloads a blob into any writer, streaming. The digest is checked at the end: a
    /// mismatch is an error, but what was written cannot be taken back, so prefer
    /// [`Client::pull_blob`] with a [`BlobSink`] or [`Client::pull_blob_to_file`].
    pub async fn pull_blob_to_writer<W: tokio::io::AsyncWrite + Unpin + Send>(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        writer: &mut W,
    ) -> Result<u64> {
        self.pull_blob(repo, digest, size, &mut super::sink::OneShot(writer))
            .await
    }

    /// Downloads a blob into a file at `path`: written beside it under a temporary name
    /// (`.NAME.<digest prefix>.partial`) and renamed into place only once verified, so
    /// `path` never holds a partial blob. A download cut off by the network keeps its
    /// partial file, and so does a process that is killed: the next pull of the same
    /// blob to the same path hashes what is there and asks only for the rest (`Range`).
    pub async fn pull_blob_to_file(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        path: &Path,
    ) -> Result<u64> {
        let tmp = partial_path(path, digest);
        let (mut file, start) = open_partial(&tmp, digest, size).await?;
        let outcome = async {
            let n = self.pull_blob_after(repo, digest, size, &mut file, start).await?;
            file.sync_all()
                .await
                .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
            tokio::fs::rename(&tmp, path)
                .await
                .map_err(|e| Error::io(format!("cannot move the blob to {}", path.display()), e))?;
            Ok(n)
        }
        .await;
        match &outcome {
            // The network or the registry went: what arrived is worth continuing from
            // next time.
            Err(Error::Transport { .. }) => {}
            Err(Error::Registry { status, .. }) if crate::retry::is_retryable_status(*status) => {}
            Err(_) => {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            Ok(_) => {}
        }
        outcome
    }

    /// One download, resumed from where the connection dropped, up to the retry budget.
    async fn pull_once<S: BlobSink>(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        sink: &mut S,
        reporter: &Reporter,
        start: Option<(u64, DigestHasher)>,
    ) -> Result<u64> {
        let policy = &self.inner.config.retry;
        let what = || format!("blob {digest} of {repo}");
        let (mut offset, mut hasher) = start.unwrap_or_else(|| (0, digest.algorithm().hasher()));
        let mut failures = 0;
        loop {
            // A sink that already holds every byte needs only the check below.
            if offset > 0 && size == Some(offset) {
                break;
            }
            let mut stream = match self.open_blob_at(repo, digest, offset).await {
                // Resuming at the end: the blob is shorter than it was said to be.
                Err(Error::Registry { status: 416, .. }) if offset > 0 => {
                    return Err(Error::SizeMismatch {
                        what: what(),
                        expected: size.unwrap_or(offset),
                        actual: offset,
                    })
                }
                other => other?,
            };
            let mut broken = None;
            while let Some(piece) = stream.next().await {
                let piece = match piece {
                    Ok(p) => p,
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                };
                if piece.is_empty() {
                    continue;
                }
                if let Some(expected) = size.filter(|s| offset + piece.len() as u64 > *s) {
                    return Err(Error::SizeMismatch {
                        what: what(),
                        expected,
                        actual: offset + piece.len() as u64,
                    });
                }
                hasher.update(&piece);
                sink.write_all(&piece)
                    .await
                    .map_err(|e| Error::io(format!("cannot write {}", what()), e))?;
                offset += piece.len() as u64;
                reporter.report(ProgressState::Transferring, offset);
            }
            let short = size.is_some_and(|s| offset < s);
            if broken.is_none() && !short {
                break;
            }

            failures += 1;
            if failures >= policy.max_attempts {
                return match broken {
                    Some(e) => Err(Error::Transport {
                        method: "GET".into(),
                        url: what(),
                        message: format!("the download broke off at byte {offset}: {e}"),
                    }),
                    None => Err(Error::SizeMismatch {
                        what: what(),
                        expected: size.unwrap_or(0),
                        actual: offset,
                    }),
                };
            }
            tracing::debug!(offset, "blob download broke off; resuming");
            tokio::time::sleep(policy.backoff(failures)).await;
        }
        sink.flush()
            .await
            .map_err(|e| Error::io(format!("cannot write {}", what()), e))?;
        let actual = hasher.finish();
        if &actual != digest {
            return Err(Error::DigestMismatch {
                what: what(),
                expected: digest.clone(),
                actual,
            });
        }
        if let Some(expected) = size.filter(|s| *s != offset) {
            return Err(Error::SizeMismatch {
                what: what(),
                expected,
                actual: offset,
            });
        }
        Ok(offset)
    }

    /// Begins a download of the whole blob: its size when the registry announces one
    /// (`Content-Length`), and its bytes, **not verified**: the caller hashes them (a
    /// pull-through cache streams them on while it does). The request is retried like
    /// any other (connection errors, 429, 5xx); a download that breaks off midway is
    /// not resumed here but ends the stream with an error.
    pub async fn open_blob(&self, repo: &Repository, digest: &Digest) -> Result<(Option<u64>, ByteStream)> {
        self.open_blob_from(repo, digest, 0).await
    }

    /// The blob's bytes from `offset` on. A registry may ignore `Range` and send the
    /// whole blob; the bytes before `offset` are then dropped here.
    pub(crate) async fn open_blob_at(&self, repo: &Repository, digest: &Digest, offset: u64) -> Result<ByteStream> {
        Ok(self.open_blob_from(repo, digest, offset).await?.1)
    }

    /// [`Client::open_blob_at`] with the length of the answer's body, when announced.
    async fn open_blob_from(
        &self,
        repo: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<(Option<u64>, ByteStream)> {
        let mut call = self
            .blob_call(repo, digest, Method::GET, "pull")
            .limit(crate::client::TimeLimit::Download);
        if offset > 0 {
            call = call.header(header::RANGE, &format!("bytes={offset}-"));
        }
        let response = self.send(&call).await?;
        let status = response.status().as_u16();
        let skip = match status {
            200 => offset,
            206 => {
                let start = header_str(&response, "content-range")
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if start != Some(offset) {
                    return Err(Error::Protocol(format!(
                        "{}: asked for bytes from {offset}, the registry sent Content-Range {:?}",
                        call.url,
                        header_str(&response, "content-range")
                    )));
                }
                0
            }
            _ => return Err(self.error_from(&call, response).await),
        };
        let length = response.content_length().map(|len| len.saturating_sub(skip));
        let url = call.url.clone();
        let stream = response
            .bytes_stream()
            .map(move |piece| {
                piece.map_err(|e| std::io::Error::other(transport_error(&Method::GET, &url, &e).to_string()))
            })
            .boxed();
        Ok((
            length,
            skip_prefix(idle_limited(stream, self.inner.config.read_timeout), skip),
        ))
    }
}

/// Where a download to `path` is written until verified: beside it, named after the
/// file and the blob, so that a later pull of the same blob finds it and another blob
/// never does.
fn partial_path(path: &Path, digest: &Digest) -> std::path::PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hex = digest.hex();
    dir.join(format!(".{name}.{}.partial", &hex[..hex.len().min(16)]))
}

/// Opens (or creates) the partial file and hashes what an earlier run left in it,
/// positioned at its end. A partial longer than the blob is emptied.
async fn open_partial(
    path: &Path,
    digest: &Digest,
    size: Option<u64>,
) -> Result<(tokio::fs::File, Option<(u64, DigestHasher)>)> {
    let cannot = |e| Error::io(format!("cannot open {}", path.display()), e);
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .await
        .map_err(cannot)?;
    let len = file.metadata().await.map_err(cannot)?.len();
    if len == 0 || size.is_some_and(|s| len > s) {
        file.restart().await.map_err(cannot)?;
        return Ok((file, None));
    }
    let mut hasher = digest.algorithm().hasher();
    let mut buffer = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buffer).await.map_err(cannot)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        read += n as u64;
    }
    file.seek(std::io::SeekFrom::Start(read)).await.map_err(cannot)?;
    tracing::debug!(path = %path.display(), bytes = read, "continuing a partial download");
    Ok((file, Some((read, hasher))))
}

/// The stream without its first `skip` bytes.
fn skip_prefix(stream: ByteStream, skip: u64) -> ByteStream {
    if skip == 0 {
        return stream;
    }
    let mut remaining = skip;
    stream
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
        .boxed()
}

/// Ends the stream with a `TimedOut` error when a piece takes longer than `patience`,
/// so a registry that stops sending mid-blob is resumed from rather than waited on.
fn idle_limited(stream: ByteStream, patience: std::time::Duration) -> ByteStream {
    futures::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(patience, stream.next()).await {
            Ok(Some(piece)) => Some((piece, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the registry sent nothing for {patience:?}"),
                )),
                None,
            )),
        }
    })
    .boxed()
}
