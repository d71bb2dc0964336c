//! One download of a blob from an upstream, shared by every request that wants it.
//!
//! The fetch runs in a task of its own, apart from any request, so a client that goes
//! away stops nothing. It streams the upstream's bytes into an upload of the blob store
//! (an upload session like a push's, so a process killed midway leaves only an upload
//! that the expiry sweep removes, never a blob), hashing them on the way, and commits
//! and links the blob only once its digest matched. Bytes received but not yet stored
//! stay in a window in memory (at most [`SEGMENT`] bytes): a reader behind the window
//! reads the stored part of the upload, a reader inside it copies from memory, so a
//! client that joins halfway is served from the first byte, and memory stays bounded
//! whatever the blob's size.
//!
//! No reader is given the blob's last byte before the fetch is committed: a download
//! whose bytes turn out unlike the digest ends with an error instead, which breaks the
//! client's connection before its response is complete.

use super::super::{Registry, RegistryError};
use crate::meta::MetaStore;
use crate::storage::{BlobStore, ByteStream};
use crate::upstream::UpstreamBlob;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use wharf_oci::{Digest, RepositoryName};

/// Bytes gathered in memory before they are appended to the upload in one call.
const SEGMENT: usize = 8 * 1024 * 1024;

/// A fetch in progress (or just ended), as readers see it.
pub(crate) struct Fetch {
    pub(crate) digest: Digest,
    blobs: Arc<dyn BlobStore>,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Set once the upstream answered: the upload's id and the announced size.
    started: Option<Started>,
    /// Bytes appended to the upload; the window holds what follows.
    stored: u64,
    window: VecDeque<Bytes>,
    received: u64,
    outcome: Option<Result<(), RegistryError>>,
}

#[derive(Clone)]
struct Started {
    upload: String,
    size: Option<u64>,
}

impl Fetch {
    pub(crate) fn new(digest: Digest, blobs: Arc<dyn BlobStore>) -> Arc<Fetch> {
        Arc::new(Fetch {
            digest,
            blobs,
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        })
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.send_modify(|n| *n += 1);
    }

    /// Ends the fetch for every reader with `error` (before or after it started).
    pub(crate) fn fail(&self, error: RegistryError) {
        self.update(|s| {
            s.window.clear();
            s.outcome.get_or_insert(Err(error));
        });
    }

    /// Waits until the upstream answered: the blob's size (when announced), or why
    /// there is nothing to stream.
    pub(crate) async fn started(&self) -> Result<Option<u64>, RegistryError> {
        let mut changes = self.changed.subscribe();
        loop {
            changes.borrow_and_update();
            {
                let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(started) = &s.started {
                    return Ok(started.size);
                }
                if let Some(Err(e)) = &s.outcome {
                    return Err(e.clone());
                }
            }
            if changes.changed().await.is_err() {
                return Err(RegistryError::internal(
                    "pulling a blob through",
                    "the fetch task ended",
                ));
            }
        }
    }

    /// The blob from its first byte, as the fetch brings it in.
    pub(crate) fn reader(self: &Arc<Self>) -> ByteStream {
        let reader = Reader {
            fetch: self.clone(),
            changes: self.changed.subscribe(),
            at: 0,
            pending: None,
        };
        futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            match reader.next().await {
                Some(Ok(piece)) => Some((Ok(piece), Some(reader))),
                Some(Err(e)) => Some((Err(e), None)),
                None => None,
            }
        })
        .boxed()
    }
}

struct Reader {
    fetch: Arc<Fetch>,
    changes: watch::Receiver<u64>,
    at: u64,
    pending: Option<ByteStream>,
}

/// What a reader does next, decided under the state's lock and done outside it.
enum Step {
    Yield(Vec<Bytes>),
    ReadUpload(String, u64),
    ReadBlob(u64),
    Wait,
    End,
    Fail(String),
}

impl Reader {
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            if let Some(pending) = &mut self.pending {
                match pending.next().await {
                    Some(Ok(piece)) => {
                        self.at += piece.len() as u64;
                        return Some(Ok(piece));
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => self.pending = None,
                }
                continue;
            }
            self.changes.borrow_and_update();
            match self.step() {
                Step::Yield(pieces) => self.pending = Some(futures::stream::iter(pieces.into_iter().map(Ok)).boxed()),
                Step::ReadUpload(upload, end) => {
                    match self.fetch.blobs.read_upload_range(&upload, self.at..end).await {
                        Ok(stream) => self.pending = Some(stream),
                        // Committed meanwhile: the next step reads the blob.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Some(Err(e)),
                    }
                }
                Step::ReadBlob(end) => match self.fetch.blobs.read_blob(&self.fetch.digest, self.at..end).await {
                    Ok(stream) => self.pending = Some(stream),
                    Err(e) => return Some(Err(e)),
                },
                // The sender lives as long as the fetch this reader holds.
                Step::Wait => {
                    let _ = self.changes.changed().await;
                }
                Step::End => return None,
                Step::Fail(why) => return Some(Err(io::Error::other(why))),
            }
        }
    }

    fn step(&self) -> Step {
        let s = self.fetch.state.lock().unwrap_or_else(|p| p.into_inner());
        match &s.outcome {
            Some(Err(e)) => return Step::Fail(e.message.clone()),
            Some(Ok(())) if self.at >= s.received => return Step::End,
            Some(Ok(())) => return Step::ReadBlob(s.received),
            None => {}
        }
        let Some(started) = &s.started else { return Step::Wait };
        // Hold the last byte back until the blob is verified and committed.
        let servable = match started.size {
            Some(size) => s.received.min(size.saturating_sub(1)),
            None => s.received.saturating_sub(1),
        };
        if self.at >= servable {
            return Step::Wait;
        }
        if self.at < s.stored {
            return Step::ReadUpload(started.upload.clone(), s.stored.min(servable));
        }
        let mut pieces = Vec::new();
        let mut offset = s.stored;
        for piece in &s.window {
            let end = offset + piece.len() as u64;
            if end > self.at && offset < servable {
                let from = self.at.saturating_sub(offset) as usize;
                let to = (servable.min(end) - offset) as usize;
                pieces.push(piece.slice(from..to));
            }
            offset = end;
        }
        Step::Yield(pieces)
    }
}

/// The fetch itself: runs to its end whether or not anyone still reads.
pub(crate) async fn run(
    registry: Arc<Registry>,
    fetch: Arc<Fetch>,
    name: RepositoryName,
    upload: String,
    blob: UpstreamBlob,
) {
    let UpstreamBlob { size, stream } = blob;
    fetch.update(|s| {
        s.started = Some(Started {
            upload: upload.clone(),
            size,
        })
    });
    let outcome = transfer(&registry, &fetch, &name, &upload, size, stream).await;
    match outcome {
        Ok(()) => fetch.update(|s| {
            s.window.clear();
            s.outcome = Some(Ok(()));
        }),
        Err(error) => {
            tracing::warn!(repository = %name, digest = %fetch.digest, "pull-through of a blob failed: {}", error.message);
            registry.discard(&upload).await;
            fetch.fail(error);
        }
    }
}

async fn transfer(
    registry: &Registry,
    fetch: &Fetch,
    name: &RepositoryName,
    upload: &str,
    size: Option<u64>,
    mut stream: ByteStream,
) -> Result<(), RegistryError> {
    let digest = &fetch.digest;
    let broke = |why: String| {
        super::gateway_error(
            502,
            format!("blob {digest} could not be pulled from the upstream: {why}; nothing was cached, try again"),
        )
    };
    let mut hasher = digest.algorithm().hasher();
    let mut received = 0u64;
    let mut gathered = 0usize;
    loop {
        let piece = match stream.try_next().await {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(e) => return Err(broke(format!("the download broke off after {received} bytes ({e})"))),
        };
        received += piece.len() as u64;
        if size.is_some_and(|size| received > size) {
            return Err(broke(format!(
                "the upstream sent more than the {} bytes it announced",
                size.unwrap_or(0)
            )));
        }
        hasher.update(&piece);
        gathered += piece.len();
        fetch.update(|s| {
            s.received = received;
            s.window.push_back(piece);
        });
        if gathered >= SEGMENT {
            store_window(fetch, upload).await?;
            gathered = 0;
        }
    }
    store_window(fetch, upload).await?;
    if let Some(size) = size.filter(|size| *size != received) {
        return Err(broke(format!(
            "the upstream announced {size} bytes and sent {received}"
        )));
    }
    let computed = hasher.finish();
    if &computed != digest {
        return Err(broke(format!("the upstream's bytes have digest {computed}")));
    }
    registry.claim_blob(digest, received).await?;
    registry.blobs.commit_upload(upload, received, digest).await?;
    complete(registry.meta.as_ref(), upload, name, digest, received).await?;
    registry.damage.repaired(digest);
    Ok(())
}

/// Appends the window to the upload and drops it from memory.
async fn store_window(fetch: &Fetch, upload: &str) -> Result<(), RegistryError> {
    let (offset, pieces): (u64, Vec<Bytes>) = {
        let s = fetch.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.stored, s.window.iter().cloned().collect())
    };
    if pieces.is_empty() {
        return Ok(());
    }
    let count = pieces.len();
    let mut source = futures::stream::iter(pieces.into_iter().map(Ok));
    let written = fetch.blobs.append_upload(upload, offset, &mut source).await?;
    fetch.update(|s| {
        s.stored += written;
        s.window.drain(..count);
    });
    Ok(())
}

async fn complete(
    meta: &dyn MetaStore,
    upload: &str,
    name: &RepositoryName,
    digest: &Digest,
    size: u64,
) -> Result<(), RegistryError> {
    Ok(meta.complete_upload(upload, name, digest, size).await?)
}
