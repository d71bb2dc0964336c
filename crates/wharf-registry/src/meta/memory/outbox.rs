//! The event outbox in memory. A change and its events are applied under one lock of
//! their own, so the events' conditions are judged on the state the change meets
//! (every change that records events goes through it); a process that ends loses the
//! outbox with everything else the store held.

use super::MemoryMetaStore;
use crate::meta::outbox::{apply, holds};
use crate::meta::{Change, Leased, MetaResult, NewEvent, OutboxEvent};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Default)]
pub struct Outbox {
    /// Held while a change and its events are applied.
    pub(super) serial: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    events: BTreeMap<u64, OutboxEvent>,
    /// endpoint -> (cursor, holder, lease until).
    cursors: HashMap<String, (u64, String, SystemTime)>,
}

impl Outbox {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl MemoryMetaStore {
    pub(super) async fn apply_recorded(&self, change: Change<'_>, events: Vec<NewEvent>) -> MetaResult<bool> {
        let _one_at_a_time = self.outbox.serial.lock().await;
        let mut held = Vec::new();
        for event in events {
            if holds(self, &change, &event.condition).await? {
                held.push(event);
            }
        }
        let changed = apply(self, change).await?;
        if changed {
            self.append_recorded(held);
        }
        Ok(changed)
    }

    pub(super) fn append_recorded(&self, events: Vec<NewEvent>) {
        self.outbox.with(|s| {
            for e in events {
                s.next += 1;
                s.events.insert(s.next, OutboxEvent::from_new(s.next, e));
            }
        })
    }

    pub(super) fn lease_cursor(&self, endpoint: &str, holder: &str, until: SystemTime, limit: usize) -> Leased {
        self.outbox.with(|s| {
            let now = SystemTime::now();
            let cursor = s
                .cursors
                .entry(endpoint.to_string())
                .or_insert_with(|| (0, holder.to_string(), until));
            if cursor.1 != holder && cursor.2 >= now {
                return Leased::Elsewhere;
            }
            cursor.1 = holder.to_string();
            cursor.2 = until;
            let after = cursor.0;
            Leased::Held(
                s.events
                    .range(after + 1..)
                    .take(limit)
                    .map(|(_, e)| e.clone())
                    .collect(),
            )
        })
    }

    pub(super) fn advance_cursor(&self, endpoint: &str, holder: &str, seq: u64) -> bool {
        self.outbox.with(|s| match s.cursors.get_mut(endpoint) {
            Some(cursor) if cursor.1 == holder => {
                cursor.0 = cursor.0.max(seq);
                true
            }
            _ => false,
        })
    }

    pub(super) fn prune_outbox(&self, endpoints: &[String]) -> u64 {
        self.outbox.with(|s| {
            let mut lowest = None;
            for endpoint in endpoints {
                let Some((seq, _, _)) = s.cursors.get(endpoint) else {
                    return 0;
                };
                lowest = Some(lowest.map_or(*seq, |l: u64| l.min(*seq)));
            }
            let Some(lowest) = lowest else { return 0 };
            let kept = s.events.split_off(&(lowest + 1));
            let removed = s.events.len() as u64;
            s.events = kept;
            removed
        })
    }
}
