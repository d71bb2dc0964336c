//! Copying images between registries and OCI image layouts: manifests byte for byte
//! (so digests stay the same), blobs streamed from one end to the other, skipped when
//! the destination has them and mounted when both ends are one registry.

mod store;

pub use store::Store;

use crate::document::{Descriptor, ImageIndex, ImageManifest, Platform};
use crate::error::{Error, Result};
use crate::manifests::Manifest;
use futures::{StreamExt, TryStreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use wharf_oci::Digest;

/// Nested indexes deeper than this are refused (a loop of indexes must not recurse forever).
const MAX_INDEX_DEPTH: usize = 8;

/// Which images of an index to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Copy every image of an index, and the index itself (its digest is kept).
    pub all_platforms: bool,
    /// Without `all_platforms`: the platform to copy (the host's by default).
    pub platform: Option<Platform>,
    /// Blobs transferred at once.
    pub concurrency: usize,
}

/// What a copy did.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// The digest of the manifest (or index) now at the destination.
    pub digest: Option<Digest>,
    pub media_type: String,
    pub manifests: u64,
    pub blobs_copied: u64,
    pub blobs_skipped: u64,
    pub bytes_copied: u64,
}

#[derive(Default)]
struct Counters {
    manifests: AtomicU64,
    copied: AtomicU64,
    skipped: AtomicU64,
    bytes: AtomicU64,
}

/// Copies the image `source` names from `from` into `to`, under `tag` there (by digest
/// only when `tag` is `None`). Without a `source`, a registry's `latest` or a layout's
/// only image is copied.
pub async fn copy_image(
    from: &Store,
    source: Option<&crate::Reference>,
    to: &Store,
    tag: Option<&str>,
    options: &CopyOptions,
) -> Result<CopyReport> {
    let counters = Counters::default();
    let top = from.get_manifest(source).await?;
    let copied = if top.is_index() && !options.all_platforms {
        let index: ImageIndex = parse(&top)?;
        let wanted = options.platform.clone().unwrap_or_else(Platform::host);
        let child = index.choose(&wanted).cloned().map_err(|available| {
            Error::NotFound(format!(
                "{} has no image for {wanted} (it has: {}); choose one with --platform or copy --all-platforms",
                from.describe(source),
                available.join(", ")
            ))
        })?;
        let manifest = from.get_child_manifest(&child).await?;
        copy_tree(from, to, manifest, tag, options, &counters, 0).await?
    } else {
        copy_tree(from, to, top, tag, options, &counters, 0).await?
    };
    Ok(CopyReport {
        digest: Some(copied.digest.clone()),
        media_type: copied.media_type,
        manifests: counters.manifests.load(Ordering::Relaxed),
        blobs_copied: counters.copied.load(Ordering::Relaxed),
        blobs_skipped: counters.skipped.load(Ordering::Relaxed),
        bytes_copied: counters.bytes.load(Ordering::Relaxed),
    })
}

/// Copies a manifest and everything below it, children first, so the destination never
/// holds a manifest whose content is missing.
async fn copy_tree(
    from: &Store,
    to: &Store,
    manifest: Manifest,
    tag: Option<&str>,
    options: &CopyOptions,
    counters: &Counters,
    depth: usize,
) -> Result<Manifest> {
    if depth > MAX_INDEX_DEPTH {
        return Err(Error::Invalid(format!(
            "indexes nest deeper than {MAX_INDEX_DEPTH} levels"
        )));
    }
    if manifest.is_index() {
        let index: ImageIndex = parse(&manifest)?;
        for child in &index.manifests {
            // A child the source lacks fails the copy: the destination would refuse an
            // index over missing manifests.
            let child_manifest = from.get_child_manifest(child).await?;
            Box::pin(copy_tree(from, to, child_manifest, None, options, counters, depth + 1)).await?;
        }
    } else {
        let image: ImageManifest = parse(&manifest)?;
        let blobs: Vec<Descriptor> = std::iter::once(image.config.clone())
            .chain(image.layers.iter().filter(|l| !l.is_external()).cloned())
            .collect();
        let concurrency = options.concurrency.max(1);
        futures::stream::iter(blobs)
            .map(|blob| async move {
                let sent = to.put_blob(from, &blob).await?;
                match sent {
                    0 => counters.skipped.fetch_add(1, Ordering::Relaxed),
                    n => {
                        counters.bytes.fetch_add(n, Ordering::Relaxed);
                        counters.copied.fetch_add(1, Ordering::Relaxed)
                    }
                };
                Ok::<_, Error>(())
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
    }
    to.put_manifest(&manifest, tag, depth == 0).await?;
    counters.manifests.fetch_add(1, Ordering::Relaxed);
    Ok(manifest)
}

fn parse<T: serde::de::DeserializeOwned>(manifest: &Manifest) -> Result<T> {
    serde_json::from_slice(&manifest.bytes)
        .map_err(|e| Error::Protocol(format!("manifest {} is not valid: {e}", manifest.digest)))
}
