//! Pull times, noted in memory and written in batches: a pull must not cost a write.
//!
//! A manifest GET (and a blob GET from an upstream's cache) notes `(repository, digest)
//! → now` in a map of this process; the background work ([`Registry::flush_pulls`],
//! run by `crate::maintenance::FlushPulls` every few seconds and once more when the
//! maintenance stops) hands the map to the metadata store in one batch. Between two
//! flushes a link pulled a thousand times is one entry. A crash loses at most the
//! pulls of one interval, which only makes those links look a little older to the
//! retention rule `not_pulled_for` and to the eviction of upstream caches; both count
//! days or bytes, never seconds.
//!
//! The map is bounded ([`MAX_PENDING`]): when full, pulls of links not in it yet are
//! dropped until the next flush (links already in it still move).

use super::{Registry, RegistryResult};
use crate::meta::Pull;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName};

/// Links noted at most between two flushes (about 200 bytes each).
pub const MAX_PENDING: usize = 1 << 20;

/// The pulls noted since the last flush.
#[derive(Default)]
pub(crate) struct PullLog {
    pending: Mutex<HashMap<(RepositoryName, Digest), SystemTime>>,
}

impl PullLog {
    fn note(&self, repository: &RepositoryName, digest: &Digest, at: SystemTime) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let key = (repository.clone(), digest.clone());
        if let Some(last) = pending.get_mut(&key) {
            *last = (*last).max(at);
        } else if pending.len() < MAX_PENDING {
            pending.insert(key, at);
        }
    }

    fn take(&self) -> Vec<Pull> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        taken
            .into_iter()
            .map(|((repository, digest), at)| Pull { repository, digest, at })
            .collect()
    }

    /// Puts back pulls a failed flush did not write, for the next one.
    fn restore(&self, pulls: Vec<Pull>) {
        for pull in pulls {
            self.note(&pull.repository, &pull.digest, pull.at);
        }
    }

    fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Registry {
    /// Notes that `digest` (a manifest, or a blob) was pulled from `name` now. Costs a
    /// map insert; the time reaches the metadata store at the next
    /// [`Registry::flush_pulls`].
    pub fn note_pull(&self, name: &RepositoryName, digest: &Digest) {
        self.pulls.note(name, digest, SystemTime::now());
    }

    /// Pulls noted and not yet flushed.
    pub fn pending_pulls(&self) -> usize {
        self.pulls.len()
    }

    /// Writes the pulls noted since the last flush, in one batch; returns how many
    /// links it wrote. On failure they are kept for the next flush.
    pub async fn flush_pulls(&self) -> RegistryResult<usize> {
        let pulls = self.pulls.take();
        if pulls.is_empty() {
            return Ok(0);
        }
        match self.meta.record_pulls(&pulls).await {
            Ok(()) => Ok(pulls.len()),
            Err(e) => {
                self.pulls.restore(pulls);
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_link_pulled_often_is_one_entry_with_its_last_time() {
        let log = PullLog::default();
        let (repo, digest): (RepositoryName, Digest) = ("app".parse().unwrap(), Digest::sha256_of(b"m"));
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        log.note(&repo, &digest, t + Duration::from_secs(5));
        log.note(&repo, &digest, t);
        let taken = log.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].at, t + Duration::from_secs(5));
        assert!(log.take().is_empty(), "taken once");
        log.restore(taken);
        assert_eq!(log.len(), 1, "a failed flush puts them back");
    }
}
