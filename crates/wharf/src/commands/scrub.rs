//! `wharf scrub --data-dir DIR`: reads every linked blob back and checks it against its
//! digest; damaged ones are set aside. Prints the report, and exits with 5 when it
//! found damage.

use super::data_dir;
use super::exit::{Exit, Failure, Outcome};
use super::output::size;
use super::setup::Context;
use crate::cli::ScrubArgs;
use wharf_registry::registry::policy::{ScrubOptions, ScrubReport};
use wharf_registry::RegistryConfig;

pub async fn run(ctx: &Context, args: ScrubArgs) -> Outcome {
    let opened = data_dir::open(args.data_dir.as_deref(), &args.stores, RegistryConfig::default()).await?;
    let registry = opened.registry;
    let options = ScrubOptions {
        bytes_per_second: args.rate.filter(|r| *r > 0),
    };
    let report = registry
        .scrub(&options)
        .await
        .map_err(|e| Failure::other(format!("scrub failed: {}", e.message)))?;
    let json = serde_json::to_value(&report).expect("reports serialise");
    ctx.out.emit(json, || table(&report));
    if report.is_clean() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Integrity,
        format!(
            "scrub found {} damaged blob(s) (set aside in {}; a push of the same content repairs each) and {} missing reference(s)",
            report.damaged.len(),
            opened.quarantine,
            report.missing_references.len()
        ),
    ))
}

fn table(report: &ScrubReport) -> String {
    let mut text = String::new();
    for d in &report.damaged {
        text.push_str(&format!("DAMAGED {} ({}): {}\n", d.digest, size(d.size), d.why));
    }
    for m in &report.missing_references {
        text.push_str(&format!(
            "MISSING {}@{} references {}\n",
            m.repository, m.manifest, m.missing
        ));
    }
    text.push_str(&format!(
        "checked {} blobs, {} in {} ms: {} damaged\n",
        report.blobs,
        size(report.bytes),
        report.took_ms,
        report.damaged.len()
    ));
    text
}
