//! `wharf bench URL`: wharf-client's load generator pointed at any registry, and
//! `wharf bench --compare FILE…` to put runs side by side.

use super::exit::{Failure, Outcome};
use super::setup::Context;
use crate::cli::BenchArgs;
use wharf_client::bench::{compare, run_measured, table, BenchConfig, BenchRun, WORKLOADS};
use wharf_client::{ImageReference, RetryPolicy};

pub async fn run(ctx: &Context, args: BenchArgs) -> Outcome {
    if !args.compare.is_empty() {
        return print_comparison(&args);
    }
    let url = args.url.clone().expect("clap requires a URL without --compare");
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .trim_end_matches("/v2")
        .to_string();
    for name in &args.only {
        if !WORKLOADS.contains(&name.as_str()) {
            return Err(Failure::usage(format!(
                "unknown workload {name:?} (one of {})",
                WORKLOADS.join(", ")
            )));
        }
    }
    let repository: ImageReference = format!("{host}/{}", args.repository)
        .parse()
        .map_err(|e: wharf_client::Error| Failure::usage(e.to_string()))?;
    // An http:// URL means plain HTTP whatever the host; failures are what a bench
    // counts, so no retries hide them.
    let mut global = ctx.global.clone();
    global.plain_http |= url.starts_with("http://");
    let bench = Context::new(global);
    let client = bench
        .client_with(bench.credentials(&[&host])?, None)?
        .with_retries(RetryPolicy::none());
    let mut config = BenchConfig::new(repository.repository);
    config.big_size = args.big_mib << 20;
    config.chunk_size = args.chunk_mib.max(1) << 20;
    config.duration = args.duration;
    config.connections = args.connections.max(1);
    config.small_count = args.small_count;
    config.small_size = args.small_size;
    config.small_concurrency = args.small_concurrency.max(1);
    config.tag_count = args.tag_count;
    config.tag_page_size = args.tag_page.max(1);
    config.only = args.only.clone();
    config.server_pid = args.server_pid;

    let (results, server) = run_measured(&client, &config).await;
    let run = BenchRun {
        label: args.label.clone().unwrap_or_else(|| host.clone()),
        url: url.clone(),
        results,
        server,
    };
    let document = serde_json::to_value(&run).expect("bench runs serialise");
    if let Some(path) = &args.out {
        let text = serde_json::to_vec_pretty(&document).expect("JSON values serialise");
        std::fs::write(path, text).map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))?;
    }
    ctx.out.emit(document, || {
        let mut text = table(&run.results);
        for (figure, value) in &run.server {
            text.push_str(&format!("{:<18} {:<16} {:>14.2}\n", "server", figure, value));
        }
        text
    });
    let failed: Vec<&str> = run.results.iter().filter(|r| !r.ok).map(|r| r.name.as_str()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::other(format!("workloads failed: {}", failed.join(", "))))
    }
}

fn print_comparison(args: &BenchArgs) -> Outcome {
    let mut runs = Vec::new();
    for path in &args.compare {
        let text = std::fs::read(path).map_err(|e| Failure::other(format!("cannot read {}: {e}", path.display())))?;
        let run: BenchRun = serde_json::from_slice(&text)
            .map_err(|e| Failure::usage(format!("{} is not a `wharf bench --out` file: {e}", path.display())))?;
        runs.push(run);
    }
    print!("{}", compare(&runs));
    Ok(())
}
