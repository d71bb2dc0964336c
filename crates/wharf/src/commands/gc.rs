//! `wharf gc --data-dir DIR [--config FILE] [--metadata postgres --postgres-url URL] [--storage s3 ...]`: one garbage
//! collection of a data directory (and its metadata store), now.
//!
//! It opens the directory's stores itself, so it works whether or not a server runs on
//! them: every removal is re-checked in the metadata database, which the server's
//! pushes check too, and the server drops its read cache when it sees the collection.

use super::exit::{Failure, Outcome};
use super::output::size;
use super::setup::Context;
use crate::cli::GcArgs;
use wharf_registry::registry::gc::{GcOptions, GcReport, Tally};
use wharf_registry::RegistryConfig;

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
    let report = registry
        .collect_garbage(&options)
        .await
        .map_err(|e| Failure::other(format!("garbage collection failed: {}", e.message)))?;
    let json = serde_json::to_value(&report).expect("reports serialise");
    ctx.out.emit(json, || table(&report));
    Ok(())
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
