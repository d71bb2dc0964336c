//! `wharf retention --data-dir DIR [--dry-run]`: applies the config file's retention
//! policies now and prints the tags removed (or that would be).

use super::data_dir;
use super::exit::{Failure, Outcome};
use super::setup::Context;
use crate::cli::RetentionArgs;
use wharf_registry::registry::policy::RetentionReport;
use wharf_registry::RegistryConfig;

pub async fn run(ctx: &Context, args: RetentionArgs) -> Outcome {
    let registry = data_dir::open(args.data_dir.as_deref(), &args.stores, RegistryConfig::default())
        .await?
        .registry;
    if registry.config().policies.retention.is_empty() {
        return Err(Failure::usage(
            "no [[retention]] policies in the config file (give --config FILE, or run in the directory of wharf.toml)",
        ));
    }
    let report = registry
        .apply_retention(args.dry_run)
        .await
        .map_err(|e| Failure::other(format!("retention failed: {}", e.message)))?;
    let json = serde_json::to_value(&report).expect("reports serialise");
    ctx.out.emit(json, || table(&report));
    Ok(())
}

fn table(report: &RetentionReport) -> String {
    let verb = if report.dry_run { "would untag" } else { "untagged" };
    let mut text = String::new();
    for t in &report.untagged {
        text.push_str(&format!(
            "{verb} {}:{} ({}, {} old, not pulled for {})\n",
            t.repository,
            t.tag,
            t.digest,
            humantime::format_duration(std::time::Duration::from_secs(t.age_seconds)),
            humantime::format_duration(std::time::Duration::from_secs(t.unpulled_seconds))
        ));
    }
    text.push_str(&format!(
        "{} tag(s) {verb}, {} kept, in {} repositories; the next garbage collection removes what only they kept\n",
        report.untagged.len(),
        report.tags_kept,
        report.repositories
    ));
    text
}
