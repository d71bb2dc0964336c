//! `wharf du --data-dir DIR`: storage used per repository, from the metadata database.

use super::data_dir;
use super::exit::{Failure, Outcome};
use super::output::size;
use super::setup::Context;
use crate::cli::DuArgs;
use wharf_registry::registry::policy::UsageReport;
use wharf_registry::RegistryConfig;

pub async fn run(ctx: &Context, args: DuArgs) -> Outcome {
    let registry = data_dir::open(args.data_dir.as_deref(), &args.stores, RegistryConfig::default())
        .await?
        .registry;
    let report = registry
        .usage()
        .await
        .map_err(|e| Failure::other(format!("cannot read usage: {}", e.message)))?;
    let json = serde_json::to_value(&report).expect("reports serialise");
    ctx.out.emit(json, || table(&report));
    Ok(())
}

fn table(report: &UsageReport) -> String {
    let mut text = format!(
        "{:<40} {:>8} {:>12} {:>12} {:>12}\n",
        "repository", "blobs", "bytes", "exclusive", "quota"
    );
    for r in &report.repositories {
        let quota = r.limit.map(size).unwrap_or_else(|| "-".into());
        text.push_str(&format!(
            "{:<40} {:>8} {:>12} {:>12} {:>12}\n",
            r.repository,
            r.blobs,
            size(r.bytes),
            size(r.exclusive_bytes),
            quota
        ));
    }
    let total = match report.total_limit {
        Some(limit) => format!(" of a total quota of {}", size(limit)),
        None => String::new(),
    };
    text.push_str(&format!(
        "linked: {} (each blob once){total}; stored: {} in {} blobs\n",
        size(report.linked_bytes),
        size(report.stored_bytes),
        report.stored_blobs
    ));
    text
}
