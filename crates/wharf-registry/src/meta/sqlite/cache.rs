//! Answers to the hot lookups, kept in memory: is blob D in repository R (blob HEAD and
//! GET), manifest D of R and the manifest tag T of R points at (manifest HEAD and GET).
//!
//! Each write of this process forgets the entries it may have changed once it has
//! committed. The only other writer is a garbage collection run by another process
//! (`wharf gc`), which bumps a counter the store polls (see `watch_collections`): the
//! whole cache is dropped when it moves. Tags are
//! therefore as fresh as the database itself. A lookup that raced with a write does not
//! store its (possibly older) answer: every change bumps a generation counter, and an
//! answer read under an older generation is returned but not kept.
//!
//! Only positive answers are kept (absent blobs and manifests are always looked up), and
//! each map is bounded: when full it is emptied and refills with what is asked for.

use crate::meta::ManifestRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries per map before it is emptied.
const CAPACITY: usize = 65_536;

type Key = (String, String);

#[derive(Default)]
struct Maps {
    generation: u64,
    /// (repository, digest) → size of a linked blob.
    links: HashMap<Key, u64>,
    /// (repository, digest) → manifest record.
    manifests: HashMap<Key, ManifestRecord>,
    /// (repository, tag) → the record of the manifest it points at.
    tags: HashMap<Key, ManifestRecord>,
}

/// The cache; see the module documentation.
#[derive(Default)]
pub struct ReadCache {
    maps: Mutex<Maps>,
}

/// Which map a lookup reads.
#[derive(Clone, Copy)]
pub enum Kind {
    Manifest,
    Tag,
}

impl ReadCache {
    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation to pass to `keep_*` with an answer read from the database.
    pub fn generation(&self) -> u64 {
        self.maps().generation
    }

    pub fn link(&self, repo: &str, digest: &str) -> Option<u64> {
        self.maps().links.get(&(repo.to_string(), digest.to_string())).copied()
    }

    pub fn keep_link(&self, generation: u64, repo: String, digest: String, size: u64) {
        let mut maps = self.maps();
        if maps.generation == generation {
            bounded_insert(&mut maps.links, (repo, digest), size);
        }
    }

    pub fn record(&self, kind: Kind, repo: &str, key: &str) -> Option<ManifestRecord> {
        let maps = self.maps();
        let map = match kind {
            Kind::Manifest => &maps.manifests,
            Kind::Tag => &maps.tags,
        };
        map.get(&(repo.to_string(), key.to_string())).cloned()
    }

    pub fn keep_record(&self, generation: u64, kind: Kind, repo: String, key: String, record: ManifestRecord) {
        let mut maps = self.maps();
        if maps.generation != generation {
            return;
        }
        let map = match kind {
            Kind::Manifest => &mut maps.manifests,
            Kind::Tag => &mut maps.tags,
        };
        bounded_insert(map, (repo, key), record);
    }

    /// Forgets everything (after a garbage collection, here or in another process).
    pub fn clear(&self) {
        let mut maps = self.maps();
        maps.generation += 1;
        maps.links.clear();
        maps.manifests.clear();
        maps.tags.clear();
    }

    /// After a committed write: forgets what `change` may have made stale.
    pub fn forget(&self, change: Change<'_>) {
        let mut maps = self.maps();
        maps.generation += 1;
        match change {
            Change::Unlinked { repo, digest } => {
                maps.links.remove(&(repo.to_string(), digest.to_string()));
            }
            Change::Tagged { repo, tags } => {
                for tag in tags {
                    maps.tags.remove(&(repo.to_string(), tag.clone()));
                }
            }
            Change::Untagged { repo, tag } => {
                maps.tags.remove(&(repo.to_string(), tag.to_string()));
            }
            Change::ManifestDeleted { repo, digest } => {
                let key = (repo.to_string(), digest.to_string());
                maps.links.remove(&key);
                maps.manifests.remove(&key);
                maps.tags
                    .retain(|(r, _), record| !(r == repo && record.digest.to_string() == digest));
            }
        }
    }
}

/// A committed change the cache must hear of.
pub enum Change<'a> {
    Unlinked { repo: &'a str, digest: &'a str },
    Tagged { repo: &'a str, tags: &'a [String] },
    Untagged { repo: &'a str, tag: &'a str },
    ManifestDeleted { repo: &'a str, digest: &'a str },
}

fn bounded_insert<V>(map: &mut HashMap<Key, V>, key: Key, value: V) {
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_oci::Digest;

    fn record(digest: &Digest) -> ManifestRecord {
        ManifestRecord {
            digest: digest.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 2,
            artifact_type: None,
            subject: None,
            annotations: None,
        }
    }

    #[test]
    fn an_answer_read_before_a_change_is_not_kept() {
        let cache = ReadCache::default();
        let before = cache.generation();
        cache.forget(Change::Untagged { repo: "r", tag: "t" });
        let d = Digest::sha256_of(b"{}");
        cache.keep_record(before, Kind::Tag, "r".into(), "t".into(), record(&d));
        assert!(cache.record(Kind::Tag, "r", "t").is_none());
        let now = cache.generation();
        cache.keep_record(now, Kind::Tag, "r".into(), "t".into(), record(&d));
        assert_eq!(cache.record(Kind::Tag, "r", "t"), Some(record(&d)));
    }

    #[test]
    fn deleting_a_manifest_forgets_its_tags_links_and_record() {
        let cache = ReadCache::default();
        let d = Digest::sha256_of(b"{}");
        let other = Digest::sha256_of(b"[]");
        let g = cache.generation();
        cache.keep_record(g, Kind::Tag, "r".into(), "a".into(), record(&d));
        cache.keep_record(g, Kind::Tag, "r".into(), "b".into(), record(&other));
        cache.keep_record(g, Kind::Manifest, "r".into(), d.to_string(), record(&d));
        cache.keep_link(g, "r".into(), d.to_string(), 2);
        cache.forget(Change::ManifestDeleted {
            repo: "r",
            digest: &d.to_string(),
        });
        assert!(cache.record(Kind::Tag, "r", "a").is_none());
        assert!(cache.record(Kind::Tag, "r", "b").is_some());
        assert!(cache.record(Kind::Manifest, "r", &d.to_string()).is_none());
        assert!(cache.link("r", &d.to_string()).is_none());
    }
}
