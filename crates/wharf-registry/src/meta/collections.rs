//! The record of garbage collections, kept in the metadata store so that every replica
//! (and a `wharf gc` run from the command line) writes to, and reads, the same history.

use std::time::SystemTime;

/// How many collections a store keeps; older ones are dropped as new ones start.
pub const KEPT_COLLECTIONS: usize = 100;

/// One collection, begun and perhaps ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRun {
    /// Random, given when it started.
    pub id: String,
    pub started: SystemTime,
    /// When and how it ended; `None` while it runs, or when its process stopped before
    /// it could say.
    pub ended: Option<(SystemTime, CollectionOutcome)>,
}

/// How a collection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionOutcome {
    /// What it removed.
    Removed {
        manifests: u64,
        blobs: u64,
        bytes_freed: u64,
    },
    /// The message of the error that ended it.
    Failed(String),
}

impl CollectionOutcome {
    /// The columns a relational store keeps: manifests, blobs, bytes freed, error.
    pub fn columns(&self) -> (i64, i64, i64, Option<&str>) {
        match self {
            CollectionOutcome::Removed {
                manifests,
                blobs,
                bytes_freed,
            } => (*manifests as i64, *blobs as i64, *bytes_freed as i64, None),
            CollectionOutcome::Failed(message) => (0, 0, 0, Some(message)),
        }
    }

    /// The outcome those columns hold.
    pub fn from_columns(manifests: i64, blobs: i64, bytes_freed: i64, error: Option<String>) -> CollectionOutcome {
        match error {
            Some(message) => CollectionOutcome::Failed(message),
            None => CollectionOutcome::Removed {
                manifests: manifests.max(0) as u64,
                blobs: blobs.max(0) as u64,
                bytes_freed: bytes_freed.max(0) as u64,
            },
        }
    }
}
