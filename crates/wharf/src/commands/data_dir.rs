//! Opening a server's stores from a command (`wharf gc`, `du`, `retention`, `scrub`),
//! whether or not a server runs on them: every change such a command makes is checked
//! in the metadata store, as the server's own are. The stores are those `wharf serve`
//! would open with the same config file, flags and variables: blobs in the data
//! directory or an S3 bucket, metadata in the directory's SQLite file or PostgreSQL.

use super::exit::Failure;
use crate::cli::StoreArgs;
use crate::metadata::Metadata;
use std::path::Path;
use std::sync::Arc;
use wharf_registry::storage::BlobStore;
use wharf_registry::{Registry, RegistryConfig};

/// The registry over the stores `stores` selects for the data directory `dir`, with the
/// config file's lifecycle policies and events (and `config`'s other settings): what a
/// command removes is announced through the outbox as the server's removals are.
pub async fn open(dir: &Path, stores: &StoreArgs, config: RegistryConfig) -> Result<Registry, Failure> {
    let crate::config::Stores {
        metadata,
        storage,
        policies,
        events,
    } = crate::config::load_stores(stores).map_err(Failure::usage)?;
    if metadata == Metadata::Sqlite && !dir.join("metadata.sqlite").is_file() {
        return Err(Failure::usage(format!(
            "{} is not a wharf data directory (it has no metadata.sqlite; give --metadata postgres \
             and --postgres-url, or --config with the server's [metadata], if it keeps its metadata in PostgreSQL)",
            dir.display()
        )));
    }
    let blobs: Arc<dyn BlobStore> = storage.open(dir, true).await.map_err(Failure::other)?;
    let meta = metadata.open(dir, true).await.map_err(Failure::other)?;
    let config = RegistryConfig {
        policies,
        events,
        ..config
    };
    Ok(Registry::new(blobs, meta, config))
}
