//! Pull times: when a manifest or blob was last pulled from a repository, for the
//! retention rule `not_pulled_for` and for the size limit of upstream caches (which
//! evicts the least recently pulled blobs first).
//!
//! A pull is never a write of its own: the registry keeps the pulls it served in memory
//! and hands them to [`super::MetaStore::record_pulls`] in one batch now and then (see
//! `crate::registry::pulls`). The store keeps one time per link (repository, digest),
//! and [`super::GcLink::pulled`] reads it back.

use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName};

/// `digest` was pulled from `repository` at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub repository: RepositoryName,
    pub digest: Digest,
    pub at: SystemTime,
}
