//! Sweep: the plan's removals, in batches, each re-checked by the metadata store.

use super::plan::Plan;
use super::{GcReport, Registry, RegistryResult};
use crate::meta::GcSnapshot;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;
use wharf_oci::Digest;

/// Items per metadata transaction: small enough that a batch holds the writer for well
/// under a millisecond, so requests' writes interleave with a long collection.
const BATCH: usize = 128;

impl Registry {
    pub(super) async fn sweep(
        &self,
        plan: &Plan,
        snapshot: &GcSnapshot,
        cutoff: SystemTime,
        dry_run: bool,
        report: &mut GcReport,
    ) -> RegistryResult<()> {
        for batch in plan.manifests.chunks(BATCH) {
            let sizes: HashMap<_, _> = batch.iter().cloned().collect();
            let items: Vec<_> = batch.iter().map(|(k, _)| k.clone()).collect();
            let removed = if dry_run {
                items
            } else {
                self.remove_unused_manifests(&items, cutoff).await?
            };
            for key in removed {
                report.manifests.add(sizes[&key]);
            }
        }
        for batch in plan.links.chunks(BATCH) {
            let sizes: HashMap<_, _> = batch.iter().cloned().collect();
            let items: Vec<_> = batch.iter().map(|(k, _)| k.clone()).collect();
            let removed = if dry_run {
                items
            } else {
                self.meta.remove_unused_links(&items, cutoff).await?
            };
            for key in removed {
                report.links.add(sizes[&key]);
            }
        }
        for batch in plan.blobs.chunks(BATCH) {
            let sizes: HashMap<_, _> = batch.iter().cloned().collect();
            let digests: Vec<Digest> = batch.iter().map(|(d, _)| d.clone()).collect();
            let marked = if dry_run {
                digests
            } else {
                self.meta.mark_blobs_deleting(&digests, cutoff).await?
            };
            for digest in self.remove_bytes(marked, dry_run, report).await? {
                report.blobs.add(sizes[&digest]);
            }
        }
        self.sweep_stray(snapshot, cutoff, dry_run, report).await
    }

    /// Removes the bytes of blobs whose rows are marked deleting, forgets them in the
    /// content cache, then removes the rows. Returns those removed.
    async fn remove_bytes(
        &self,
        marked: Vec<Digest>,
        dry_run: bool,
        report: &mut GcReport,
    ) -> RegistryResult<Vec<Digest>> {
        if dry_run {
            return Ok(marked);
        }
        let mut removed = Vec::with_capacity(marked.len());
        for digest in marked {
            match self.blobs.delete_blob(&digest).await {
                Ok(()) => {
                    self.content.forget(&digest);
                    removed.push(digest);
                }
                Err(e) => {
                    // The row stays marked: the next collection tries again.
                    tracing::warn!(%digest, error = %e, "could not remove a blob's bytes");
                    report.errors += 1;
                }
            }
        }
        self.meta.forget_deleted_blobs(&removed).await?;
        Ok(removed)
    }

    /// Bytes the store holds that no row accounts for, written before the cutoff.
    async fn sweep_stray(
        &self,
        snapshot: &GcSnapshot,
        cutoff: SystemTime,
        dry_run: bool,
        report: &mut GcReport,
    ) -> RegistryResult<()> {
        let rows: HashSet<&Digest> = snapshot.blobs.iter().map(|b| &b.digest).collect();
        let stray: Vec<(Digest, u64)> = self
            .blobs
            .list_blobs()
            .await?
            .into_iter()
            .filter(|b| !rows.contains(&b.digest) && b.written.is_none_or(|w| w < cutoff))
            .map(|b| (b.digest, b.size))
            .collect();
        for batch in stray.chunks(BATCH) {
            let sizes: HashMap<_, _> = batch.iter().cloned().collect();
            // A row inserted marked deleting fences the digest; one that exists now (a
            // push claimed it since the snapshot) makes the insert, and the removal, skip.
            let fenced = if dry_run {
                batch.iter().map(|(d, _)| d.clone()).collect()
            } else {
                self.meta.fence_stray_blobs(batch).await?
            };
            for digest in self.remove_bytes(fenced, dry_run, report).await? {
                report.stray_blobs.add(sizes[&digest]);
            }
        }
        Ok(())
    }

    /// Upload bytes no session owns (a session's row is made before its first byte).
    pub(super) async fn sweep_orphan_uploads(&self, dry_run: bool, report: &mut GcReport) -> RegistryResult<()> {
        for id in self.blobs.list_uploads().await? {
            if self.meta.upload(&id).await?.is_some() {
                continue;
            }
            if !dry_run {
                self.blobs.delete_upload(&id).await?;
            }
            report.orphan_uploads.add(0);
        }
        Ok(())
    }
}
