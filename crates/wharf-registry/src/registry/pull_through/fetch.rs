//! One download of a blob from an upstream, shared by every request that wants it.
//!
//! The fetch runs in a task of its own, apart from any request, so a client that goes
//! away stops nothing. It streams the upstream's bytes into an upload of the blob store
//! (an upload session like a push's, so a process killed midway leaves only an upload
//! that the expiry sweep removes, never a blob), hashing them on the way, and commits
//! and links the blob only once its digest matched.
//!
//! Three tasks share the work so that the client's stream is never held back by the
//! store: the fetch task receives and hands each piece on at once (to the readers, to a
//! hashing task and to a storing task, as shared `Bytes`, no copy); hashing and storing
//! run beside it, each at most [`WINDOW`] bytes behind (then the download waits for
//! them). Bytes received but not yet stored stay in a window in memory: a reader behind
//! the window reads the stored part of the upload, a reader inside it copies from
//! memory, so a client that joins halfway is served from the first byte, and memory
//! stays bounded whatever the blob's size.
//!
//! No reader is given the blob's last byte before the bytes are verified (all received,
//! as many as announced, hashed to the digest): a download whose bytes turn out unlike
//! the digest ends with an error instead, which breaks the client's connection before
//! its response is complete. Verified bytes are released at once, while the store may
//! still be catching up and committing: a client waits for the upstream and the hash,
//! never for the disk. Until the commit, the fetch stays the one readers join (served
//! from the window and the upload); a store that fails after the verification costs
//! only the cache entry, never a client a byte it should not have.

use super::super::{Registry, RegistryError};
use crate::meta::MetaStore;
use crate::storage::{BlobStore, ByteStream};
use crate::upstream::UpstreamBlob;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use wharf_oci::{Algorithm, Digest, RepositoryName};

/// Bytes appended to the upload per call of the blob store (S3 stores them as one
/// part of at least 5 MiB).
const SEGMENT: usize = 8 * 1024 * 1024;

/// How far hashing and storing may each fall behind the download: received bytes not
/// yet stored are held in memory, up to this much per fetch.
const WINDOW: usize = 32 * 1024 * 1024;

/// The longest piece handed on; longer ones are cut (without a copy).
const PIECE_MAX: usize = 1024 * 1024;

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
    /// Bytes appended to the upload; the window holds what follows, each piece with
    /// its offset in the blob.
    stored: u64,
    window: VecDeque<(u64, Bytes)>,
    received: u64,
    /// Every byte is received and matched the digest: readers may have them all.
    verified: bool,
    /// Set once the blob is committed and linked (or the fetch failed).
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

    /// Whether the fetch has failed: a request that finds it so starts a fetch of its
    /// own instead of joining one that can only give it the failure (the failed fetch
    /// stays in the table until its storing has stopped).
    pub(crate) fn failed(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        matches!(state.outcome, Some(Err(_)))
    }

    /// Ends the fetch for every reader with `error` (before or after it started).
    pub(crate) fn fail(&self, error: RegistryError) {
        self.update(|s| {
            s.window.clear();
            s.outcome.get_or_insert(Err(error));
        });
    }

    /// Ends the fetch without a download: the blob is stored already (`size` bytes),
    /// and readers read it from the store.
    pub(crate) fn serve_stored(&self, size: u64) {
        self.update(|s| {
            s.started = Some(Started {
                upload: String::new(),
                size: Some(size),
            });
            s.received = size;
            s.verified = true;
            s.outcome = Some(Ok(()));
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
                        // Committed (or discarded) meanwhile: the step after the
                        // outcome is known reads the blob (or fails).
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            let _ = self.changes.changed().await;
                        }
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
        // Hold the last byte back until the bytes are verified.
        let servable = match started.size {
            _ if s.verified => s.received,
            Some(size) => s.received.min(size.saturating_sub(1)),
            None => s.received.saturating_sub(1),
        };
        if s.verified && self.at >= servable {
            return Step::End;
        }
        if self.at >= servable {
            return Step::Wait;
        }
        if self.at < s.stored {
            return Step::ReadUpload(started.upload.clone(), s.stored.min(servable));
        }
        // The window holds thousands of small pieces: find the reader's by its offset.
        let first = s
            .window
            .partition_point(|(offset, piece)| offset + piece.len() as u64 <= self.at);
        let mut pieces = Vec::new();
        for (offset, piece) in s.window.range(first..) {
            if *offset >= servable {
                break;
            }
            let end = offset + piece.len() as u64;
            let from = self.at.saturating_sub(*offset) as usize;
            let to = (servable.min(end) - offset) as usize;
            pieces.push(piece.slice(from..to));
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
    crate::metrics::pull_through_fetch("blob", outcome.is_ok());
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
    fetch: &Arc<Fetch>,
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
    let hashing = Stage::start(|pieces, budget| hash(digest.algorithm(), pieces, budget));
    let storing = Stage::start(|pieces, budget| store(fetch.clone(), upload.to_string(), pieces, budget));
    let mut received = 0u64;
    // Ok(false): a stage failed and stopped the download (its error is the outcome).
    let received_all = 'receive: loop {
        let piece = match stream.try_next().await {
            Ok(Some(piece)) => piece,
            Ok(None) => break Ok(true),
            Err(e) => break Err(broke(format!("the download broke off after {received} bytes ({e})"))),
        };
        received += piece.len() as u64;
        if size.is_some_and(|size| received > size) {
            break Err(broke(format!(
                "the upstream sent more than the {} bytes it announced",
                size.unwrap_or(0)
            )));
        }
        for part in parts(piece) {
            // Waits while the hasher or the writer is a whole window behind; stops
            // when either failed.
            if !hashing.reserve(part.len()).await || !storing.reserve(part.len()).await {
                break 'receive Ok(false);
            }
            fetch.update(|s| {
                s.window.push_back((s.received, part.clone()));
                s.received += part.len() as u64;
            });
            hashing.send(part.clone());
            storing.send(part);
        }
    };
    // The bytes are judged as soon as they are hashed, and released to the readers
    // (or their downloads broken off) before storing has caught up.
    let verdict = judge(received_all, hashing.finish().await, size, received, digest).map_err(|why| match why {
        Ok(why) => broke(why),
        Err(e) => e,
    });
    match &verdict {
        Ok(true) => fetch.update(|s| s.verified = true),
        Ok(false) => {}
        Err(e) => fetch.fail(e.clone()),
    }
    // Storing finishes what it was given, also after a failure, so nothing writes to
    // the upload once it is discarded.
    let stored = storing.finish().await;
    let verified = verdict?;
    let stored = stored?;
    if !verified {
        return Err(RegistryError::internal(
            "pulling a blob through",
            "the download stopped for a stage that reported no failure",
        ));
    }
    if stored != received {
        return Err(broke(format!("{stored} of the {received} bytes received were stored")));
    }
    registry.claim_blob(digest, received).await?;
    registry.blobs.commit_upload(upload, received, digest).await?;
    complete(registry.meta.as_ref(), upload, name, digest, received).await?;
    registry.damage.repaired(digest);
    Ok(())
}

/// Whether the download is whole and matches `digest`: `Ok(true)` if so, `Ok(false)` if
/// a stage stopped it (the stage's error says why); otherwise why not: `Ok(message)`
/// for an unusable answer of the upstream, `Err` for a failure of the download or the
/// hashing.
fn judge(
    received_all: Result<bool, RegistryError>,
    computed: Result<Digest, RegistryError>,
    size: Option<u64>,
    received: u64,
    digest: &Digest,
) -> Result<bool, Result<String, RegistryError>> {
    if !received_all.map_err(Err)? {
        return Ok(false);
    }
    let computed = computed.map_err(Err)?;
    if let Some(size) = size.filter(|size| *size != received) {
        return Err(Ok(format!("the upstream announced {size} bytes and sent {received}")));
    }
    if &computed != digest {
        return Err(Ok(format!("the upstream's bytes have digest {computed}")));
    }
    Ok(true)
}

/// The upstream's pieces cut to at most [`PIECE_MAX`] bytes (no copy), so that any
/// piece fits in a window.
fn parts(mut piece: Bytes) -> impl Iterator<Item = Bytes> {
    std::iter::from_fn(move || (!piece.is_empty()).then(|| piece.split_to(piece.len().min(PIECE_MAX))))
}

/// A task that consumes the received pieces beside the download (hashing them, or
/// storing them), at most [`WINDOW`] bytes behind it: the budget's permits are the
/// bytes it may still be given; it gives them back as it is done with them, and
/// closes the budget when it fails.
struct Stage<T> {
    budget: Arc<Semaphore>,
    pieces: Option<mpsc::UnboundedSender<Bytes>>,
    task: JoinHandle<Result<T, RegistryError>>,
}

impl<T: Send + 'static> Stage<T> {
    fn start<F, Fut>(work: F) -> Stage<T>
    where
        F: FnOnce(mpsc::UnboundedReceiver<Bytes>, Arc<Semaphore>) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>> + Send + 'static,
    {
        let budget = Arc::new(Semaphore::new(WINDOW));
        let (sender, receiver) = mpsc::unbounded_channel();
        let work = work(receiver, budget.clone());
        let closing = budget.clone();
        let task = tokio::spawn(async move {
            let outcome = work.await;
            if outcome.is_err() {
                closing.close();
            }
            outcome
        });
        Stage {
            budget,
            pieces: Some(sender),
            task,
        }
    }

    /// Waits until the stage may be given `len` more bytes; false once it failed.
    async fn reserve(&self, len: usize) -> bool {
        match self.budget.acquire_many(len as u32).await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Gives the stage a piece [`Stage::reserve`] made room for.
    fn send(&self, piece: Bytes) {
        if let Some(pieces) = &self.pieces {
            // A stage that ended has closed its budget: the next reserve says so.
            let _ = pieces.send(piece);
        }
    }

    /// Tells the stage that nothing more comes, and waits for its outcome.
    async fn finish(mut self) -> Result<T, RegistryError> {
        self.pieces = None;
        match (&mut self.task).await {
            Ok(outcome) => outcome,
            Err(e) => Err(RegistryError::internal("pulling a blob through", e.to_string())),
        }
    }
}

/// The hashing stage: the digest of every piece, in order.
async fn hash(
    algorithm: Algorithm,
    mut pieces: mpsc::UnboundedReceiver<Bytes>,
    budget: Arc<Semaphore>,
) -> Result<Digest, RegistryError> {
    let mut hasher = algorithm.hasher();
    while let Some(piece) = pieces.recv().await {
        hasher.update(&piece);
        budget.add_permits(piece.len());
    }
    Ok(hasher.finish())
}

/// The storing stage: appends the pieces to the upload, [`SEGMENT`] bytes per call of
/// the blob store, each streamed straight from the channel (the store overlaps its
/// writes with the arrival of the next bytes), and drops each segment from the window
/// once it is stored. The appends need not be durable (the commit syncs the blob), so
/// a durable file store writes them to the page cache at memory speed instead of
/// holding the download to the disk's pace with an fsync per segment. Returns the
/// bytes stored.
async fn store(
    fetch: Arc<Fetch>,
    upload: String,
    mut pieces: mpsc::UnboundedReceiver<Bytes>,
    budget: Arc<Semaphore>,
) -> Result<u64, RegistryError> {
    let mut stored = 0u64;
    while let Some(first) = pieces.recv().await {
        let (mut count, mut bytes) = (0usize, 0usize);
        let written = {
            let mut first = Some(first);
            let mut source = futures::stream::poll_fn(|cx| {
                let next = match first.take() {
                    Some(piece) => Some(piece),
                    None if bytes >= SEGMENT => return Poll::Ready(None),
                    None => std::task::ready!(pieces.poll_recv(cx)),
                };
                Poll::Ready(next.map(|piece| {
                    count += 1;
                    bytes += piece.len();
                    Ok(piece)
                }))
            });
            fetch
                .blobs
                .append_upload_until_commit(&upload, stored, &mut source)
                .await?
        };
        if written != bytes as u64 {
            return Err(RegistryError::internal(
                "pulling a blob through",
                format!("the blob store appended {written} of {bytes} bytes to upload {upload}"),
            ));
        }
        stored += written;
        fetch.update(|s| {
            s.stored = stored;
            s.window.drain(..count);
        });
        budget.add_permits(bytes);
    }
    Ok(stored)
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
