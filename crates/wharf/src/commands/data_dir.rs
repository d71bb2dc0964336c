//! Opening a server's stores from a command (`wharf gc`, `du`, `retention`, `scrub`),
//! whether or not a server runs on them: every change such a command makes is checked
//! in the metadata store, as the server's own are. The stores are those `wharf serve`
//! would open with the same config file, flags and variables: blobs in the data
//! directory or an S3 bucket, metadata in the directory's SQLite file or PostgreSQL.
//! The data directory is needed only when one of them lives in it (files, SQLite):
//! given with `--data-dir`, else the config file's `data_dir`.

use super::exit::Failure;
use crate::cli::StoreArgs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wharf_registry::storage::BlobStore;
use wharf_registry::{Registry, RegistryConfig};

/// The registry a command works on, and where its blob store sets damaged blobs aside.
pub struct Opened {
    pub registry: Registry,
    /// `DATA_DIR/quarantine`, or the bucket's `quarantine/` keys.
    pub quarantine: String,
}

/// The registry over the stores `stores` selects (with the data directory `dir`, when
/// they keep something there), with the config file's lifecycle policies, events and
/// upstreams (and `config`'s other settings): what a command removes is announced
/// through the outbox as the server's removals are, and an upstream's cache is held to
/// its `max_size` as the server holds it. Nothing is asked of the upstreams.
pub async fn open(dir: Option<&Path>, stores: &StoreArgs, config: RegistryConfig) -> Result<Opened, Failure> {
    let chosen = crate::config::load_stores(stores).map_err(Failure::usage)?;
    let local = chosen.metadata.uses_data_dir() || chosen.storage.uses_data_dir();
    let dir: PathBuf = match dir.map(Path::to_path_buf).or(chosen.data_dir) {
        Some(dir) => dir,
        None if local => {
            let what = if chosen.metadata.uses_data_dir() {
                "the metadata is in SQLite"
            } else {
                "the blobs are files"
            };
            return Err(Failure::usage(format!(
                "{what} in the data directory: give --data-dir DIR (or data_dir in the config file), \
                 or --config with the server's [storage] and [metadata] if it keeps them in S3 and PostgreSQL"
            )));
        }
        // Nothing is read from it: the stores are a bucket and a database server.
        None => PathBuf::new(),
    };
    if chosen.metadata.uses_data_dir() && !dir.join("metadata.sqlite").is_file() {
        return Err(Failure::usage(format!(
            "{} is not a wharf data directory (it has no metadata.sqlite; give --metadata postgres \
             and --postgres-url, or --config with the server's [metadata], if it keeps its metadata in PostgreSQL)",
            dir.display()
        )));
    }
    let upstreams = crate::upstream::build(&chosen.upstreams).map_err(Failure::usage)?;
    let blobs: Arc<dyn BlobStore> = chosen.storage.open(&dir, true).await.map_err(Failure::other)?;
    let meta = chosen.metadata.open(&dir, true).await.map_err(Failure::other)?;
    let config = RegistryConfig {
        policies: chosen.policies,
        events: chosen.events,
        ..config
    };
    Ok(Opened {
        registry: Registry::new(blobs, meta, config).with_upstreams(upstreams),
        quarantine: chosen.storage.quarantine_place(&dir),
    })
}
