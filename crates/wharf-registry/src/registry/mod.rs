//! The protocol: uploads, blobs, manifests, tags, referrers, mounts and deletes.
//!
//! This layer knows the OCI rules and nothing of HTTP, SQL or file paths: it drives a
//! [`BlobStore`] and a [`MetaStore`] and answers in [`RegistryError`]s.

mod blobs;
mod browse;
mod cleanup;
mod config;
mod content_cache;
mod damage;
mod error;
mod events;
mod fence;
pub mod gc;
mod hashing;
mod listing;
mod locks;
mod manifests;
pub mod policy;
mod pull_through;
mod pulls;
mod readiness;
mod referrers;
mod upload_lease;
mod uploads;
mod verify;

pub use blobs::BlobInfo;
pub use config::RegistryConfig;
pub use error::{RegistryError, RegistryResult, UploadPosition};
pub use gc::{GcOptions, GcReport};
pub use listing::{Listing, MAX_PAGE};
pub use manifests::{ManifestPut, StoredManifest};
pub use pull_through::{BlobAnswer, EvictionReport};
pub use pulls::MAX_PENDING as MAX_PENDING_PULLS;
pub use readiness::Readiness;
pub use uploads::{ChunkRange, StartUpload, Started};

use crate::meta::MetaStore;
use crate::storage::BlobStore;
use locks::KeyedLocks;
use std::sync::Arc;
use wharf_oci::{ErrorCode, RepositoryName};

/// A registry over one blob store and one metadata store. Cheap to share (`Arc`).
pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    config: RegistryConfig,
    upload_locks: KeyedLocks,
    content: content_cache::ContentCache,
    damage: Arc<damage::Damage>,
    /// Held by a garbage collection, so that two never overlap in one process.
    gc_lock: tokio::sync::Mutex<()>,
    /// Repositories filled from upstream registries (none by default).
    upstreams: crate::upstream::Upstreams,
    pull_through: pull_through::PullThrough,
    /// Pulls noted since they were last written to the metadata store.
    pulls: pulls::PullLog,
    /// Whether it is stopping, and the last readiness probe (`/readyz`).
    readiness: readiness::ReadinessState,
}

impl Registry {
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>, config: RegistryConfig) -> Registry {
        Registry {
            damage: Arc::new(damage::Damage::new(blobs.clone())),
            blobs,
            meta,
            config,
            upload_locks: KeyedLocks::default(),
            content: Default::default(),
            gc_lock: Default::default(),
            upstreams: Default::default(),
            pull_through: Default::default(),
            pulls: Default::default(),
            readiness: Default::default(),
        }
    }

    /// The registry with repositories under `upstreams`' prefixes filled from them on a
    /// miss (see [`crate::upstream`]).
    pub fn with_upstreams(mut self, upstreams: crate::upstream::Upstreams) -> Registry {
        self.upstreams = upstreams;
        self
    }

    pub fn upstreams(&self) -> &crate::upstream::Upstreams {
        &self.upstreams
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Refuses names the operator's stricter pattern does not allow.
    pub fn admit_name(&self, name: &RepositoryName) -> RegistryResult<()> {
        match &self.config.name_pattern {
            Some(p) if !p.is_match(name.as_str()) => Err(RegistryError::new(
                ErrorCode::NameInvalid,
                format!(
                    "repository name {name:?} is not allowed by this registry's name pattern {:?}",
                    p.as_str()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// NAME_UNKNOWN unless `name` holds something.
    async fn require_repository(&self, name: &RepositoryName) -> RegistryResult<()> {
        if self.meta.repository_exists(name).await? {
            Ok(())
        } else {
            Err(RegistryError::new(
                ErrorCode::NameUnknown,
                format!("repository {name} is not known to this registry"),
            ))
        }
    }
}
