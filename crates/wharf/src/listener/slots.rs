//! The cap on open connections: a connection is served only with a slot, and gives it
//! back when it closes. When none is free, the connection that has been idle longest is
//! asked to close; if every connection is serving a request, the new one waits.

use super::activity::{Activity, State};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a new connection waits for a slot before another idle connection is asked
/// to close (the one asked before may have begun a request meanwhile).
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(100);

pub struct Slots {
    table: Arc<Table>,
}

struct Table {
    free: Arc<Semaphore>,
    cap: usize,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
}

/// A connection's place under the cap; given back when dropped.
pub struct Slot {
    pub activity: Arc<Activity>,
    id: u64,
    table: Arc<Table>,
    _free: OwnedSemaphorePermit,
}

impl Slots {
    pub fn new(cap: usize) -> Slots {
        let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
        Slots {
            table: Arc::new(Table {
                free: Arc::new(Semaphore::new(cap)),
                cap,
                open: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// A slot for a new connection: a free one, else one an idle connection gives up.
    pub async fn take(&self) -> Slot {
        loop {
            if let Ok(free) = self.table.free.clone().try_acquire_owned() {
                return self.slot(free);
            }
            self.close_longest_idle();
            if let Ok(Ok(free)) = tokio::time::timeout(ASK_AGAIN_AFTER, self.table.free.clone().acquire_owned()).await {
                return self.slot(free);
            }
        }
    }

    /// Resolves once every slot is free again: every connection has closed.
    pub async fn all_returned(&self) {
        let all = u32::try_from(self.table.cap).unwrap_or(u32::MAX);
        let _ = self.table.free.acquire_many(all).await;
    }

    fn slot(&self, free: OwnedSemaphorePermit) -> Slot {
        let id = self.table.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Activity::new();
        self.table.lock().insert(id, activity.clone());
        Slot {
            activity,
            id,
            table: self.table.clone(),
            _free: free,
        }
    }

    /// Asks the connection idle for the longest time (not asked yet) to close.
    fn close_longest_idle(&self) {
        let open = self.table.lock();
        let longest_idle = open
            .values()
            .filter(|activity| !activity.closing())
            .filter_map(|activity| match activity.state() {
                State::Idle { since, .. } => Some((since, activity)),
                State::Busy => None,
            })
            .min_by_key(|(since, _)| *since);
        if let Some((_, activity)) = longest_idle {
            activity.ask_to_close();
        }
    }
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
    }
}
