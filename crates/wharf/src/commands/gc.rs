//! `wharf gc --data-dir DIR [--config FILE] [--metadata postgres --postgres-url URL] [--storage s3 ...]`: one garbage
//! collection of a data directory (and its metadata store), now.
//!
//! Before it collects, it holds each `[[upstreams]]` cache of the config file to its
//! `max_size` as each of the server's collections does (the least recently pulled blobs
//! are unlinked, and this collection removes their bytes); a dry run reports what would
//! be evicted and evicts nothing.
//!
//! It opens the directory's stores itself, so it works whether or not a server runs on
//! them: every removal is re-checked in the metadata database, which the server's
//! pushes check too, and the server drops its read cache when it sees the collection.

use super::exit::{Failure, Outcome};
use super::output::size;
use super::setup::Context;
use crate::cli::GcArgs;
use serde::Serialize;
use wharf_registry::registry::gc::{GcOptions, GcReport, Tally};
use wharf_registry::registry::EvictionReport;
use wharf_registry::RegistryConfig;

/// What the command did: the collection's report, and beside it (in JSON, the field
/// `upstream_evictions`) one eviction report per upstream that has a `max_size`.
#[derive(Serialize)]
struct Done {
    #[serde(flatten)]
    collection: GcReport,
    upstream_evictions: Vec<EvictionReport>,
}

pub async fn run(ctx: &Context, args: GcArgs) -> Outcome {
    let registry = super::data_dir::open(args.data_dir.as_deref(), &args.stores, RegistryConfig::default())
        .await?
        .registry;
    let defaults = GcOptions::default();
    let options = GcOptions {
        grace: args.grace.unwrap_or(defaults.grace),
        keep_untagged: args.keep_untagged.unwrap_or(defaults.keep_untagged),
        dry_run: args.dry_run,
    };
    let evictions = if options.dry_run {
        registry.plan_upstream_eviction().await
    } else {
        registry.evict_upstream_caches().await
    };
    let upstream_evictions =
        evictions.map_err(|e| Failure::other(format!("upstream cache eviction failed: {}", e.message)))?;
    let collection = registry
        .collect_garbage(&options)
        .await
        .map_err(|e| Failure::other(format!("garbage collection failed: {}", e.message)))?;
    let done = Done {
        collection,
        upstream_evictions,
    };
    let json = serde_json::to_value(&done).expect("reports serialise");
    ctx.out.emit(json, || {
        let mut text = evictions_table(&done.upstream_evictions, done.collection.dry_run);
        text.push_str(&table(&done.collection));
        text
    });
    Ok(())
}

/// One line per upstream with a `max_size`: what its cache held and what was evicted.
fn evictions_table(reports: &[EvictionReport], dry_run: bool) -> String {
    let verb = if dry_run { "would evict" } else { "evicted" };
    reports
        .iter()
        .map(|r| {
            format!(
                "upstream {}: {verb} {} blob(s), {} ({} cached, max_size {})\n",
                r.prefix,
                r.evicted.len(),
                size(r.evicted_bytes),
                size(r.cached_bytes),
                size(r.max_size)
            )
        })
        .collect()
}

/// The report for people: one row per kind.
fn table(report: &GcReport) -> String {
    let verb = if report.dry_run { "would remove" } else { "removed" };
    let rows: [(&str, Tally); 5] = [
        ("untagged manifests", report.manifests),
        ("unreferenced links", report.links),
        ("blobs", report.blobs),
        ("stray blobs", report.stray_blobs),
        ("orphan uploads", report.orphan_uploads),
    ];
    let mut text = format!("{:<20} {:>8} {:>12}\n", verb, "count", "bytes");
    for (what, tally) in rows {
        text.push_str(&format!("{what:<20} {:>8} {:>12}\n", tally.count, size(tally.bytes)));
    }
    text.push_str(&format!(
        "space freed{}: {} in {} ms\n",
        if report.dry_run { " (dry run)" } else { "" },
        size(report.bytes_freed()),
        report.took.as_millis()
    ));
    if report.backfilled > 0 {
        text.push_str(&format!(
            "read {} manifest(s) stored before references were recorded\n",
            report.backfilled
        ));
    }
    if let Some(why) = &report.skipped {
        text.push_str(&format!("skipped: {why}\n"));
    }
    if report.errors > 0 {
        text.push_str(&format!(
            "{} removal(s) failed; see the log (WHARF_LOG=warn)\n",
            report.errors
        ));
    }
    text
}
