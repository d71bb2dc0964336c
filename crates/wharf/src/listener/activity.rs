//! What a connection is doing, as far as its timeouts care: how many requests are in
//! progress on it, and since when it has had none.
//!
//! A request is in progress from the moment hyper hands it to the service (its headers
//! have arrived) until its response body has been sent or dropped, so a long download
//! or upload is never taken for idleness.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// Shared by a connection's watchdog, its requests (through [`InProgress`]) and the
/// slot table that picks which idle connection to close when all slots are taken.
#[derive(Debug)]
pub struct Activity {
    in_progress: AtomicUsize,
    /// When the last request ended, or when the connection was accepted.
    idle_since: Mutex<Instant>,
    /// Whether any request has begun: before the first, the header timeout applies;
    /// after it, the idle timeout.
    served: AtomicBool,
    /// Wakes the watchdog when a request begins or ends.
    pub changed: Notify,
    /// Wakes the watchdog to close the connection, if it is idle, to free its slot.
    pub evict: Notify,
    eviction_asked: AtomicBool,
}

/// The state the watchdog and the slot table act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Busy,
    /// No request in progress since this instant; `served` tells whether one ever was.
    Idle {
        since: Instant,
        served: bool,
    },
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_progress: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            served: AtomicBool::new(false),
            changed: Notify::new(),
            evict: Notify::new(),
            eviction_asked: AtomicBool::new(false),
        })
    }

    /// Marks a request as begun; it is in progress until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InProgress {
        self.served.store(true, Ordering::Relaxed);
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
        InProgress(self.clone())
    }

    pub fn state(&self) -> State {
        // Read under the lock that `InProgress::drop` holds while it ends a request, so
        // `since` is never older than the end of the last request.
        let since = self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        if self.in_progress.load(Ordering::SeqCst) > 0 {
            return State::Busy;
        }
        State::Idle {
            since: *since,
            served: self.served.load(Ordering::Relaxed),
        }
    }

    /// Asks the connection to close if it is idle; false if it was asked already.
    pub fn ask_to_close(&self) -> bool {
        if self.eviction_asked.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.evict.notify_one();
        true
    }

    /// Whether the connection was asked to close and has not closed yet.
    pub fn closing(&self) -> bool {
        self.eviction_asked.load(Ordering::SeqCst)
    }

    /// After a refused eviction (a request had begun), the connection may be asked again.
    pub fn eviction_refused(&self) {
        self.eviction_asked.store(false, Ordering::SeqCst);
    }
}

/// A request in progress; dropping it ends the request (see [`Activity::begin`]).
#[derive(Debug)]
pub struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut since = self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        *since = Instant::now();
        self.0.in_progress.fetch_sub(1, Ordering::SeqCst);
        drop(since);
        self.0.changed.notify_one();
    }
}
