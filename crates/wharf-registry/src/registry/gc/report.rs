//! What a collection removed (or, in a dry run, would remove).

use serde::Serialize;
use std::time::Duration;

/// A number of things and the bytes they held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub count: u64,
    pub bytes: u64,
}

impl Tally {
    pub(super) fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// The outcome of [`crate::Registry::collect_garbage`], per kind of thing removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcReport {
    /// Whether this was a dry run: nothing was removed, the figures are what would be.
    pub dry_run: bool,
    /// Untagged manifests no other manifest needs (bytes: their size).
    pub manifests: Tally,
    /// Links of blobs into repositories no manifest of theirs references.
    pub links: Tally,
    /// Blob bytes no repository links any more.
    pub blobs: Tally,
    /// Blob bytes the metadata has no record of (from before collection, or left by a crash).
    pub stray_blobs: Tally,
    /// Upload bytes no upload session owns.
    pub orphan_uploads: Tally,
    /// Manifests stored before references were recorded, whose references were read now.
    pub backfilled: u64,
    /// Why links and blobs were left alone, when they were (a manifest whose references
    /// could not be read: removing what it may reference could break it).
    pub skipped: Option<String>,
    /// Removals that failed (left for the next collection).
    pub errors: u64,
    #[serde(with = "millis")]
    pub took: Duration,
}

impl GcReport {
    /// Bytes freed (or that would be) in all.
    pub fn bytes_freed(&self) -> u64 {
        self.blobs.bytes + self.stray_blobs.bytes + self.orphan_uploads.bytes
    }
}

mod millis {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}
