//! Listing the blob files (`blobs/<algorithm>/<two hex>/<hex>`), for the collector.

use super::StoredBlob;
use std::io;
use std::path::Path;
use wharf_oci::{Algorithm, Digest};

/// Every blob file under `blobs`, with its size and modification time. Names that are
/// not digests (nothing wharf wrote) are skipped, never reported as blobs. Blocking.
pub(super) fn files(blobs: &Path) -> io::Result<Vec<StoredBlob>> {
    let mut found = Vec::new();
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let dir = blobs.join(algorithm.as_str());
        let shards = match std::fs::read_dir(&dir) {
            Ok(shards) => shards,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for shard in shards {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let Ok(digest) = format!("{}:{name}", algorithm.as_str()).parse::<Digest>() else {
                    continue;
                };
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    // Removed since the directory was read.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if meta.is_file() {
                    found.push(StoredBlob {
                        digest,
                        size: meta.len(),
                        written: meta.modified().ok(),
                    });
                }
            }
        }
    }
    Ok(found)
}
