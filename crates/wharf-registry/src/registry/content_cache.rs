//! Small content kept in memory by digest: manifests, and blobs of up to
//! [`KEEP_BLOBS_UP_TO`] bytes (image configs and the like).
//!
//! A manifest and its config are read on every pull, often by many clients at once, and
//! reading them from the blob store costs a trip to the blocking pool each time.
//! Content under a digest never changes, so nothing here ever goes stale: whether a
//! repository may serve it is still decided by the metadata lookup before the bytes are
//! asked for. A digest kept here is also known to be in the blob store, so pushing the
//! same manifest again (a new tag) skips storing it, unless the metadata store says its
//! blob row was made afresh (a collection in another process removed the bytes).
//! Whatever removes bytes forgets them here too: the garbage collector, and the
//! quarantine of a blob found damaged (see [`super::damage`]). Bytes are kept only once
//! checked against their digest, so what is served from here is always valid. The cache holds
//! at most [`BUDGET`] bytes; when full it is emptied and refills with what is pulled.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use wharf_oci::Digest;

/// Total bytes kept.
const BUDGET: usize = 8 * 1024 * 1024;

/// Blobs up to this size are kept once read.
pub const KEEP_BLOBS_UP_TO: u64 = 64 * 1024;

#[derive(Default)]
pub struct ContentCache {
    kept: Mutex<(HashMap<Digest, Bytes>, usize)>,
}

impl ContentCache {
    pub fn get(&self, digest: &Digest) -> Option<Bytes> {
        let found = {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.0.get(digest).cloned()
        };
        crate::metrics::cache_lookup("content", found.is_some());
        found
    }

    /// Whether the bytes of `digest` are kept, hence known to be in the blob store.
    pub fn contains(&self, digest: &Digest) -> bool {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.0.contains_key(digest)
    }

    /// Forgets `digest`: its bytes left the blob store.
    pub fn forget(&self, digest: &Digest) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (map, total) = &mut *kept;
        if let Some(bytes) = map.remove(digest) {
            *total -= bytes.len();
        }
    }

    /// Keeps `bytes`, which the caller has read from or stored in the store under `digest`
    /// and checked against it.
    pub fn keep(&self, digest: &Digest, bytes: &Bytes) {
        if bytes.len() > BUDGET / 8 {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (map, total) = &mut *kept;
        if *total + bytes.len() > BUDGET {
            map.clear();
            *total = 0;
        }
        if map.insert(digest.clone(), bytes.clone()).is_none() {
            *total += bytes.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_budget() {
        let cache = ContentCache::default();
        let big = Bytes::from(vec![0u8; BUDGET / 8]);
        for i in 0..20u32 {
            cache.keep(&Digest::sha256_of(&i.to_be_bytes()), &big);
        }
        assert!(cache.kept.lock().unwrap().1 <= BUDGET);
        let last = Digest::sha256_of(&19u32.to_be_bytes());
        assert_eq!(cache.get(&last).map(|b| b.len()), Some(BUDGET / 8));
        let huge = Bytes::from(vec![0u8; BUDGET]);
        cache.keep(&Digest::sha256_of(b"huge"), &huge);
        assert!(cache.get(&Digest::sha256_of(b"huge")).is_none());
    }
}
