//! Upload sessions as this process last wrote them, so a chunk or a closing PUT finds
//! its session without a trip to a read connection.
//!
//! Only this process writes the database, and it writes each session through this
//! cache after the commit: an entry is always the session's committed state. Lookups
//! that miss (sessions from before a restart, or beyond the bound) read the database
//! and are not kept, so a slow read can never put back an older state. The cache holds
//! at most [`CAPACITY`] sessions; past that, new ones are simply not kept.

use crate::meta::UploadSession;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Sessions kept at most: many more than clients push at once, and a bound on what
/// abandoned sessions cost before they expire.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct SessionCache {
    sessions: Mutex<HashMap<String, UploadSession>>,
}

impl SessionCache {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, UploadSession>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<UploadSession> {
        self.sessions().get(id).cloned()
    }

    /// After a committed creation or advance: `session` is its state now.
    pub fn committed(&self, session: &UploadSession) {
        let mut sessions = self.sessions();
        if sessions.len() < CAPACITY || sessions.contains_key(&session.id) {
            sessions.insert(session.id.clone(), session.clone());
        }
    }

    /// After a committed removal, or a write whose outcome leaves the state unknown.
    pub fn forget(&self, id: &str) {
        self.sessions().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use wharf_oci::Algorithm;

    fn session(id: &str, offset: u64) -> UploadSession {
        UploadSession {
            id: id.to_string(),
            repository: "r".parse().unwrap(),
            offset,
            algorithm: Algorithm::Sha256,
            hasher_state: Vec::new(),
            updated: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn keeps_the_last_committed_state_and_forgets_removed_sessions() {
        let cache = SessionCache::default();
        cache.committed(&session("a", 0));
        cache.committed(&session("a", 10));
        assert_eq!(cache.get("a").map(|s| s.offset), Some(10));
        cache.forget("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn past_the_bound_new_sessions_are_not_kept_but_known_ones_advance() {
        let cache = SessionCache::default();
        for i in 0..CAPACITY {
            cache.committed(&session(&i.to_string(), 0));
        }
        cache.committed(&session("one too many", 0));
        assert!(cache.get("one too many").is_none());
        cache.committed(&session("7", 5));
        assert_eq!(cache.get("7").map(|s| s.offset), Some(5));
    }
}
