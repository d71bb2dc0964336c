//! Opening a server's data directory from a command (`wharf gc`, `du`, `retention`,
//! `scrub`), whether or not a server runs on it: every change such a command makes is
//! checked in the metadata database, as the server's own are.

use super::exit::Failure;
use crate::metadata::Metadata;
use std::path::Path;
use std::sync::Arc;
use wharf_registry::storage::FsBlobStore;
use wharf_registry::{Registry, RegistryConfig};

/// The registry over `dir`'s blobs and `metadata` (the directory's SQLite file, or a
/// PostgreSQL database).
pub async fn open(dir: &Path, metadata: &Metadata, config: RegistryConfig) -> Result<Registry, Failure> {
    if *metadata == Metadata::Sqlite && !dir.join("metadata.sqlite").is_file() {
        return Err(Failure::usage(format!(
            "{} is not a wharf data directory (it has no metadata.sqlite)",
            dir.display()
        )));
    }
    let blobs = FsBlobStore::open(dir, true)
        .await
        .map_err(|e| Failure::other(format!("cannot open blob storage in {}: {e}", dir.display())))?;
    let meta = metadata.open(dir, true).await.map_err(Failure::other)?;
    Ok(Registry::new(Arc::new(blobs), meta, config))
}

/// The registry settings a command needs from the config file: its lifecycle policies.
pub fn config_with_policies(config_file: Option<&Path>) -> Result<RegistryConfig, Failure> {
    let policies = crate::config::load_policies(config_file).map_err(Failure::usage)?;
    Ok(RegistryConfig {
        policies,
        ..RegistryConfig::default()
    })
}
