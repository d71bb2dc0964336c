//! Per-key async locks, so that two requests on one upload session run one at a time.
//!
//! A client sends a new request on a session only once it has given up on the previous
//! one, so a request that finds the session's lock held by a request whose body stalled
//! asks that holder to stop ([`KeyedLocks::lock_taking_over`]) instead of waiting out
//! the body timeout: the holder's body ends there once it has been quiet for a second
//! (see [`KeyGuard::until_superseded`]), the holder keeps what arrived, records it and
//! lets go. A holder whose body is still arriving is not interrupted. Status requests (GET) read the
//! session without the lock and never wait.

use crate::storage::ByteStream;
use bytes::Bytes;
use futures::{Future, Stream, StreamExt};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, Notify, OwnedMutexGuard};
use tokio::time::Instant;

/// Whether another request waits for a key's lock, and the signal that says so.
#[derive(Default)]
struct Wanted {
    flag: AtomicBool,
    notify: Notify,
}

#[derive(Default, Clone)]
struct Entry {
    lock: Arc<AsyncMutex<()>>,
    wanted: Arc<Wanted>,
}

#[derive(Default)]
pub(crate) struct KeyedLocks {
    locks: Mutex<HashMap<String, Entry>>,
}

/// Holds the lock of one key; the entry is dropped from the map with its last holder.
pub(crate) struct KeyGuard<'a> {
    owner: &'a KeyedLocks,
    key: String,
    wanted: Arc<Wanted>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    /// Waits for the lock of `key`.
    pub(crate) async fn lock(&self, key: &str) -> KeyGuard<'_> {
        self.acquire(key, false).await
    }

    /// Takes the lock of `key`, asking its holder (if any) to give its body up first.
    pub(crate) async fn lock_taking_over(&self, key: &str) -> KeyGuard<'_> {
        self.acquire(key, true).await
    }

    async fn acquire(&self, key: &str, take_over: bool) -> KeyGuard<'_> {
        let entry = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.to_string()).or_default().clone()
        };
        let guard = match entry.lock.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                if take_over {
                    entry.wanted.flag.store(true, Ordering::SeqCst);
                    entry.wanted.notify.notify_waiters();
                }
                entry.lock.clone().lock_owned().await
            }
        };
        // A request asking the previous holder to stop is answered by this one holding it.
        entry.wanted.flag.store(false, Ordering::SeqCst);
        KeyGuard {
            owner: self,
            key: key.to_string(),
            wanted: entry.wanted,
            guard: Some(guard),
        }
    }
}

impl KeyGuard<'_> {
    /// What asks this guard's holder to give a stalled body up, as a newer request on
    /// this key does: for a request on another process (another replica), which says
    /// so through the database (see [`super::upload_lease`]).
    pub(crate) fn take_over_signal(&self) -> TakeOverSignal {
        TakeOverSignal(self.wanted.clone())
    }

    /// `body`, ended with an error once another request takes this key over while the
    /// body is stalled (has sent nothing for [`STALLED_AFTER`]); a body still sending
    /// goes on, and the newer request waits for it as before.
    pub(crate) fn until_superseded(&self, body: ByteStream) -> ByteStream {
        UntilSuperseded {
            body,
            wanted: self.wanted.clone(),
            notified: None,
            last: Instant::now(),
            timer: None,
            done: false,
        }
        .boxed()
    }
}

/// Asks the holder of a key's lock to give its body up once it is stalled.
#[derive(Clone)]
pub(crate) struct TakeOverSignal(Arc<Wanted>);

impl TakeOverSignal {
    /// A signal nobody listens to, for a holder without a body to give up.
    pub(crate) fn unheard() -> TakeOverSignal {
        TakeOverSignal(Arc::default())
    }

    pub(crate) fn raise(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

/// How long a body must have sent nothing to be given up for a newer request.
const STALLED_AFTER: Duration = Duration::from_secs(1);

type Notified = Pin<Box<dyn Future<Output = ()> + Send>>;

struct UntilSuperseded {
    body: ByteStream,
    wanted: Arc<Wanted>,
    /// Wakes the stream when a newer request signals.
    notified: Option<Notified>,
    /// When the body last gave a piece.
    last: Instant,
    /// Wakes the stream when the body has been quiet for [`STALLED_AFTER`].
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

fn signal(wanted: &Arc<Wanted>) -> Notified {
    let wanted = wanted.clone();
    Box::pin(async move { wanted.notify.notified().await })
}

impl Stream for UntilSuperseded {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.body.poll_next_unpin(cx) {
            Poll::Ready(Some(piece)) => {
                this.last = Instant::now();
                return Poll::Ready(Some(piece));
            }
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        loop {
            // Registered before the flag is read, so a signal in between is not lost.
            let notified = this.notified.get_or_insert_with(|| signal(&this.wanted));
            if notified.as_mut().poll(cx).is_ready() {
                this.notified = None;
                continue;
            }
            if !this.wanted.flag.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
            let quiet_until = this.last + STALLED_AFTER;
            if Instant::now() >= quiet_until {
                this.done = true;
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "a newer request for this upload arrived while this one's body was stalled",
                ))));
            }
            let timer = this
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(quiet_until)));
            if timer.deadline() != quiet_until {
                timer.as_mut().reset(quiet_until);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self.owner.locks.lock().unwrap_or_else(|p| p.into_inner());
        self.guard.take();
        if let Some(entry) = locks.get(&self.key) {
            // Only the map holds it now: nobody waits, so the entry can go.
            if Arc::strong_count(&entry.lock) == 1 {
                locks.remove(&self.key);
            }
        }
    }
}
