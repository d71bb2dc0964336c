//! Uploads that outlive the process: where an unfinished upload's session is, kept in a
//! small file per (registry, repository, digest), so that a push killed midway and run
//! again asks that session how much arrived and sends only the rest.
//!
//! The files are a cache: written atomically (a temporary file renamed over the old
//! one), removed when the upload finishes, ignored (and removed) when older than
//! [`ResumeStore::max_age`] or unreadable. Losing one costs a fresh upload, never a
//! wrong blob: the registry checks the digest of whatever the session ends up holding.

use super::push::Session;
use crate::reference::Repository;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wharf_oci::{Algorithm, Digest};

/// Blobs smaller than this are not recorded: sending one again costs less than the
/// record's writes would on every push.
pub(crate) const RESUMABLE_FROM: u64 = 1 << 20;

/// Where unfinished uploads are recorded (see the module's documentation).
#[derive(Debug, Clone)]
pub struct ResumeStore {
    dir: PathBuf,
    /// Records older than this are ignored: registries drop idle sessions after a while
    /// (wharf after its upload expiry, CNCF Distribution after a week), and asking a dead
    /// one costs a request.
    pub max_age: Duration,
}

/// One unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) digest: String,
    /// The session's URL, as the registry's last `Location` gave it.
    pub(crate) location: String,
    /// The registry's `OCI-Chunk-Min-Length` when the session was opened.
    #[serde(default)]
    pub(crate) min_chunk: u64,
    /// The bytes the registry confirmed when the record was written (it may hold more).
    pub(crate) offset: u64,
    /// Seconds since the Unix epoch.
    pub(crate) saved: u64,
}

impl ResumeStore {
    /// Records in `dir` (created when first needed), kept for a day.
    pub fn new(dir: impl Into<PathBuf>) -> ResumeStore {
        ResumeStore {
            dir: dir.into(),
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }

    /// `$XDG_CACHE_HOME/wharf/transfers`, else `~/.cache/wharf/transfers`; `None` when
    /// neither variable is set.
    pub fn in_user_cache() -> Option<ResumeStore> {
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let cache = env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))?;
        Some(ResumeStore::new(cache.join("wharf").join("transfers")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for one upload: named by a hash of what identifies it, so that any
    /// registry, repository or digest makes a safe file name.
    fn path(&self, repo: &Repository, digest: &Digest) -> PathBuf {
        let mut hasher = Algorithm::Sha256.hasher();
        hasher.update(format!("{}\n{}\n{digest}", repo.registry, repo.name).as_bytes());
        let key = hasher.finish();
        self.dir.join(format!("upload-{}.json", &key.hex()[..32]))
    }

    /// The unfinished upload of `digest` to `repo`, if one is recorded and fresh.
    pub(crate) fn load(&self, repo: &Repository, digest: &Digest) -> Option<UploadRecord> {
        let path = self.path(repo, digest);
        let bytes = std::fs::read(&path).ok()?;
        let record = serde_json::from_slice::<UploadRecord>(&bytes).ok().filter(|r| {
            r.registry == repo.registry
                && r.repository == repo.name.as_str()
                && r.digest == digest.to_string()
                && now().saturating_sub(r.saved) <= self.max_age.as_secs()
        });
        if record.is_none() {
            tracing::debug!(path = %path.display(), "ignoring a stale or unreadable upload record");
            let _ = std::fs::remove_file(&path);
        }
        record
    }

    /// Records where the upload of `digest` to `repo` stands. A failure to write is
    /// logged, not returned: the upload itself goes on, only resuming it later is lost.
    pub(crate) fn save(&self, repo: &Repository, digest: &Digest, session: &Session, offset: u64) {
        let record = UploadRecord {
            registry: repo.registry.clone(),
            repository: repo.name.to_string(),
            digest: digest.to_string(),
            location: session.location.to_string(),
            min_chunk: session.min_chunk,
            offset,
            saved: now(),
        };
        let path = self.path(repo, digest);
        if let Err(e) = write_atomically(&path, &serde_json::to_vec(&record).unwrap_or_default()) {
            tracing::debug!(path = %path.display(), "cannot record the upload for resuming: {e}");
        }
    }

    /// Removes the record of a finished (or abandoned) upload.
    pub(crate) fn forget(&self, repo: &Repository, digest: &Digest) {
        let _ = std::fs::remove_file(self.path(repo, digest));
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so a
/// reader sees the old record or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        fastrand::u64(..)
    ));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> Repository {
        Repository::new("127.0.0.1:5000", name.parse().unwrap())
    }

    fn session() -> Session {
        Session {
            location: "http://127.0.0.1:5000/v2/a/blobs/uploads/x".parse().unwrap(),
            min_chunk: 0,
        }
    }

    fn digest(n: u8) -> Digest {
        let mut h = Algorithm::Sha256.hasher();
        h.update(&[n]);
        h.finish()
    }

    #[test]
    fn records_are_kept_per_repository_and_digest_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResumeStore::new(dir.path().join("transfers"));
        let url = session();
        assert!(store.load(&repo("a"), &digest(1)).is_none());
        store.save(&repo("a"), &digest(1), &url, 42);
        let record = store.load(&repo("a"), &digest(1)).unwrap();
        assert_eq!((record.location.as_str(), record.offset), (url.location.as_str(), 42));
        assert!(store.load(&repo("b"), &digest(1)).is_none(), "another repository");
        assert!(store.load(&repo("a"), &digest(2)).is_none(), "another digest");
        store.forget(&repo("a"), &digest(1));
        assert!(store.load(&repo("a"), &digest(1)).is_none());
        let left: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert!(left.is_empty(), "no temporary files left: {left:?}");
    }

    #[test]
    fn stale_and_damaged_records_are_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ResumeStore::new(dir.path());
        let url = session();
        store.save(&repo("a"), &digest(1), &url, 1);
        store.max_age = Duration::ZERO;
        let path = store.path(&repo("a"), &digest(1));
        let mut record: UploadRecord = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record.saved -= 10;
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(store.load(&repo("a"), &digest(1)).is_none(), "stale");
        assert!(!path.exists(), "and removed");
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(store.load(&repo("a"), &digest(1)).is_none(), "damaged");
        assert!(!path.exists());
    }
}
