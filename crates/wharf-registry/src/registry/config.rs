//! What an operator may change about the protocol's behaviour.

use regex::Regex;
use std::time::Duration;

/// Settings of the registry protocol (not of the server that carries it).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Whether `DELETE /v2/<name>/blobs/<digest>` is allowed (else 405 UNSUPPORTED).
    pub delete_blobs: bool,
    /// Whether `DELETE /v2/<name>/manifests/<digest>` is allowed.
    pub delete_manifests: bool,
    /// Whether `DELETE /v2/<name>/manifests/<tag>` is allowed.
    pub delete_tags: bool,
    /// Largest manifest accepted, in bytes (413 above).
    pub max_manifest_size: u64,
    /// Advertised as `OCI-Chunk-Min-Length`; 0 advertises nothing.
    pub chunk_min_length: u64,
    /// Largest body of one PATCH or PUT chunk, in bytes (413 above); `None`: no limit.
    pub chunk_max_length: Option<u64>,
    /// A stricter pattern names must match, beyond the spec's grammar.
    pub name_pattern: Option<Regex>,
    /// How long an upload session may sit idle before the server removes it.
    pub upload_ttl: Duration,
    /// How long a request body may send nothing before the request is given up (an
    /// upload session keeps what arrived before, so the client can resume).
    pub body_timeout: Duration,
    /// Whether a mount without `from` links a blob the registry already holds.
    pub mount_without_from: bool,
    /// Whether manifests may reference blobs and child manifests the repository does
    /// not hold ("sparse" manifests, as a partial mirror pushes). Off by default: every
    /// referenced blob and child must be present (MANIFEST_BLOB_UNKNOWN otherwise), so
    /// a manifest the registry serves can always be pulled whole.
    pub allow_sparse_manifests: bool,
    /// Whether whole-blob downloads are hashed as they stream and cut off (the
    /// connection broken before the announced length) when the bytes do not match the
    /// digest. Off by default: it costs a hash of every byte served. Sizes are always
    /// checked, and small blobs and manifests always verified when first loaded.
    pub verify_blob_reads: bool,
    /// The storage lifecycle's policies: immutable tags, quotas, retention.
    pub policies: super::policy::Policies,
    /// Event notifications: where changes are announced (nowhere by default).
    pub events: crate::events::EventsConfig,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            delete_blobs: true,
            delete_manifests: true,
            delete_tags: true,
            max_manifest_size: 4 * 1024 * 1024,
            chunk_min_length: 0,
            chunk_max_length: None,
            name_pattern: None,
            upload_ttl: Duration::from_secs(24 * 3600),
            body_timeout: Duration::from_secs(60),
            mount_without_from: true,
            allow_sparse_manifests: false,
            verify_blob_reads: false,
            policies: Default::default(),
            events: Default::default(),
        }
    }
}
