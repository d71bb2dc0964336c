//! Online garbage collection: space comes back while pushes and pulls go on.
//!
//! The metadata store is the source of truth for what references what. A collection
//! reads one snapshot of it and plans ([`plan`]) what is unused and older than the
//! grace period, then removes it in four steps, each a batch of metadata-store calls
//! that re-check every item in the transaction that removes it ([`sweep`]):
//! 1. untagged manifests nothing needs (an index first, then the children it freed;
//!    referrers of a subject that is gone);
//! 2. links of blobs into repositories no manifest of theirs references;
//! 3. blob bytes no repository links: the row is marked deleting (the fence a push's
//!    claim and link check), the bytes removed, then the row;
//! 4. bytes the store holds that no row accounts for, fenced by a row first;
//!
//! and, last, upload bytes no session owns. A push claims its blob before committing
//! bytes and links it in a transaction that checks the fence, and a manifest push checks
//! its references in its own transaction: whichever commits first wins, and the loser
//! is refused (a push gets a retryable 429, never a 201 for bytes about to go).
//!
//! ```no_run
//! # async fn run(registry: &wharf_registry::Registry) -> wharf_registry::registry::RegistryResult<()> {
//! use wharf_registry::registry::gc::GcOptions;
//! let dry = GcOptions { dry_run: true, ..GcOptions::default() };
//! let report = registry.collect_garbage(&dry).await?;
//! println!("a collection would free {} bytes", report.bytes_freed());
//! # Ok(())
//! # }
//! ```

mod plan;
mod report;
mod sweep;

pub use report::{GcReport, Tally};

use super::{Registry, RegistryResult};
use crate::meta::{CollectionOutcome, CollectionRun};
use crate::storage::read_blob_to_bytes;
use std::time::{Duration, Instant, SystemTime};
use wharf_oci::ParsedManifest;

/// How one collection runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Only what is older than this goes: uploads linked but whose manifest is not
    /// pushed yet, and manifests pushed untagged to be tagged next, survive it.
    pub grace: Duration,
    /// Keeps untagged manifests (and so what they reference).
    pub keep_untagged: bool,
    /// Computes the report and removes nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(3600),
            keep_untagged: false,
            dry_run: false,
        }
    }
}

impl Registry {
    /// Runs one garbage collection (see [`self`]); collections in one process run one at
    /// a time. Safe while the registry serves requests, and alongside a collection run by
    /// another process on the same stores (each removal is re-checked by the metadata
    /// store), though running two at once only wastes work.
    /// Every collection that is not a dry run is recorded in the metadata store, its
    /// start and then its end and outcome, so that [`Registry::last_collection`] on any
    /// replica sees it, and one run by `wharf gc` too. A record that cannot be written
    /// is logged (unless the store keeps none) and does not stop the collection.
    pub async fn collect_garbage(&self, options: &GcOptions) -> RegistryResult<GcReport> {
        // Its removals are announced as the collector's, whoever started it.
        let actor = Some(crate::events::GC_ACTOR.to_string());
        if options.dry_run {
            return crate::events::with_actor(actor, self.collect_garbage_now(options)).await;
        }
        let id = uuid::Uuid::new_v4().to_string();
        match self.meta.collection_started(&id, SystemTime::now()).await {
            Err(e) if !e.is_unsupported() => {
                tracing::warn!(error = %e, "the start of a garbage collection was not recorded")
            }
            _ => {}
        }
        let outcome = crate::events::with_actor(actor, self.collect_garbage_now(options)).await;
        let recorded = match &outcome {
            Ok(report) => CollectionOutcome::Removed {
                manifests: report.manifests.count,
                blobs: report.blobs.count + report.stray_blobs.count,
                bytes_freed: report.bytes_freed(),
            },
            Err(e) => CollectionOutcome::Failed(e.message.clone()),
        };
        match self.meta.collection_ended(&id, SystemTime::now(), &recorded).await {
            Err(e) if !e.is_unsupported() => {
                tracing::warn!(error = %e, "the end of a garbage collection was not recorded")
            }
            _ => {}
        }
        outcome
    }

    /// The collection begun last on these stores (not a dry run), by any process, ended
    /// or still running; `None` before the first.
    pub async fn last_collection(&self) -> RegistryResult<Option<CollectionRun>> {
        Ok(self.meta.last_collection().await?)
    }

    async fn collect_garbage_now(&self, options: &GcOptions) -> RegistryResult<GcReport> {
        let _one_at_a_time = self.gc_lock.lock().await;
        let started = Instant::now();
        let cutoff = SystemTime::now()
            .checked_sub(options.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let mut snapshot = self.meta.gc_snapshot().await?;
        if snapshot.manifests.iter().any(|m| !m.references_recorded) {
            report.skipped = self.backfill_references(&snapshot, &mut report).await?;
            snapshot = self.meta.gc_snapshot().await?;
        }
        if report.skipped.is_none() {
            let plan = plan::plan(&snapshot, cutoff, options.keep_untagged);
            self.sweep(&plan, &snapshot, cutoff, options.dry_run, &mut report)
                .await?;
            if !options.dry_run {
                // What the store holds now, from the snapshot less what this run removed:
                // storage used, without a query of its own.
                let (blobs, bytes) = snapshot
                    .blobs
                    .iter()
                    .filter(|b| !b.deleting)
                    .fold((0u64, 0u64), |(n, total), b| (n + 1, total + b.size));
                crate::metrics::storage(
                    blobs.saturating_sub(report.blobs.count),
                    bytes.saturating_sub(report.blobs.bytes),
                );
            }
        }
        self.sweep_orphan_uploads(options.dry_run, &mut report).await?;
        report.took = started.elapsed();
        tracing::info!(
            dry_run = report.dry_run,
            manifests = report.manifests.count,
            links = report.links.count,
            blobs = report.blobs.count,
            stray_blobs = report.stray_blobs.count,
            bytes = report.bytes_freed(),
            took_ms = report.took.as_millis() as u64,
            "garbage collection"
        );
        Ok(report)
    }

    /// Reads the manifests stored before references were recorded and records theirs.
    /// `Some(why)` if one could not be read: then nothing it might reference may go.
    async fn backfill_references(
        &self,
        snapshot: &crate::meta::GcSnapshot,
        report: &mut GcReport,
    ) -> RegistryResult<Option<String>> {
        for m in snapshot.manifests.iter().filter(|m| !m.references_recorded) {
            let read = read_blob_to_bytes(self.blobs.as_ref(), &m.digest, m.size).await;
            let parsed = read
                .map_err(|e| e.to_string())
                .and_then(|bytes| ParsedManifest::parse(Some(&m.media_type), &bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(parsed) => {
                    let references: Vec<_> = parsed.required_references().map(|d| d.digest.clone()).collect();
                    self.meta
                        .record_references(&m.repository, &m.digest, &references)
                        .await?;
                    report.backfilled += 1;
                }
                Err(why) => {
                    return Ok(Some(format!(
                        "manifest {} of {} could not be read to learn what it references ({why}); \
                         no link or blob was collected",
                        m.digest, m.repository
                    )))
                }
            }
        }
        Ok(None)
    }
}
