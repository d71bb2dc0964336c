//! What the metadata store tells a browsing person (the web UI) in one call each, where
//! the protocol's calls would take one round trip per tag.

use super::ManifestRecord;
use std::time::SystemTime;

/// A tag with the manifest it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDetail {
    pub tag: String,
    pub manifest: ManifestRecord,
    /// When the manifest was last pushed, where the store records it.
    pub pushed: Option<SystemTime>,
}

/// A manifest of a repository with the time it was last pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestDetail {
    pub manifest: ManifestRecord,
    pub pushed: Option<SystemTime>,
}

/// How many tags a repository has and when something was last pushed to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepositorySummary {
    pub tags: u64,
    pub last_push: Option<SystemTime>,
}
