//! A load generator for any registry (what `wharf bench URL` runs): big pushes in one
//! request and in chunks, a big pull, manifest GETs and blob HEADs from many
//! connections at once, many small pushes in parallel, and tag creation and listing.
//!
//! Every response is checked as in normal use (digests verified, statuses required),
//! and a failed request counts as an error, never as a fast success.

mod generated;
mod report;
mod server;
mod stats;
mod workloads;

pub use generated::GeneratedBlob;
pub use report::{compare, BenchRun};
pub use stats::WorkloadResult;

use crate::client::Client;
use crate::reference::Repository;
use std::time::Duration;

/// The workloads, in the order they run.
pub const WORKLOADS: [&str; 7] = [
    "push_monolithic",
    "push_chunked",
    "pull",
    "manifest_get",
    "blob_head",
    "small_push",
    "tags",
];

/// Sizes, concurrency and duration of a run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Repositories are made under this one (`<repository>/<workload>-<run id>`).
    pub repository: Repository,
    pub big_size: u64,
    pub chunk_size: u64,
    /// How long manifest GETs and blob HEADs are sent for.
    pub duration: Duration,
    /// Requests in flight for manifest GETs and blob HEADs.
    pub connections: usize,
    pub small_count: usize,
    pub small_size: usize,
    pub small_concurrency: usize,
    pub tag_count: usize,
    pub tag_page_size: u32,
    /// Only these workloads (all when empty).
    pub only: Vec<String>,
    /// The registry's process, on this machine: its CPU time per workload and its
    /// memory are reported too.
    pub server_pid: Option<u32>,
}

impl BenchConfig {
    pub fn new(repository: Repository) -> BenchConfig {
        BenchConfig {
            repository,
            big_size: 256 << 20,
            chunk_size: 16 << 20,
            duration: Duration::from_secs(10),
            connections: 64,
            small_count: 2000,
            small_size: 4096,
            small_concurrency: 32,
            tag_count: 1000,
            tag_page_size: 100,
            only: Vec::new(),
            server_pid: None,
        }
    }

    fn wants(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == workload)
    }
}

/// Runs the chosen workloads one after another against `client`'s registry.
pub async fn run(client: &Client, config: &BenchConfig) -> Vec<WorkloadResult> {
    run_measured(client, config).await.0
}

/// Like [`run`], with the server's idle and peak memory (`idle_rss_mib` before the
/// first workload, `peak_rss_mib` at the end) when its pid is known.
pub async fn run_measured(
    client: &Client,
    config: &BenchConfig,
) -> (Vec<WorkloadResult>, std::collections::BTreeMap<String, f64>) {
    let mut server_figures = std::collections::BTreeMap::new();
    if let Some((rss, _)) = config.server_pid.and_then(server::memory_mib) {
        server_figures.insert("idle_rss_mib".to_string(), rss);
    }
    let results = run_workloads(client, config).await;
    if let Some((_, peak)) = config.server_pid.and_then(server::memory_mib) {
        server_figures.insert("peak_rss_mib".to_string(), peak);
    }
    (results, server_figures)
}

async fn run_workloads(client: &Client, config: &BenchConfig) -> Vec<WorkloadResult> {
    let run_id = format!("{:08x}", fastrand::u32(..));
    let mut results = Vec::new();
    let mut big: Option<(Repository, GeneratedBlob)> = None;
    for name in WORKLOADS {
        // The pull reads what the monolithic push wrote, so it needs that push run.
        let needed = config.wants(name) || (name == "push_monolithic" && config.wants("pull"));
        if !needed {
            continue;
        }
        let repo = workloads::repository(config, name, &run_id);
        let cpu_before = config.server_pid.and_then(server::cpu_seconds);
        let mut result = match name {
            "push_monolithic" => {
                let (result, pushed) = workloads::push_big(client, config, &repo, None, 1).await;
                big = pushed.map(|blob| (repo.clone(), blob));
                result
            }
            "push_chunked" => {
                workloads::push_big(client, config, &repo, Some(config.chunk_size), 2)
                    .await
                    .0
            }
            "pull" => match &big {
                Some((from, blob)) => workloads::pull_big(client, from, blob).await,
                None => WorkloadResult::new(name).failed("the monolithic push failed, so there is nothing to pull"),
            },
            "manifest_get" => workloads::hammer(client, config, &repo, false).await,
            "blob_head" => workloads::hammer(client, config, &repo, true).await,
            "small_push" => workloads::small_pushes(client, config, &repo).await,
            _ => workloads::tags(client, config, &repo).await,
        };
        if let (Some(before), Some(after)) = (cpu_before, config.server_pid.and_then(server::cpu_seconds)) {
            result.set("server_cpu_s", after - before);
        }
        if config.wants(name) {
            results.push(result);
        }
    }
    results
}

/// The results as a table, one figure per line.
pub fn table(results: &[WorkloadResult]) -> String {
    let mut out = format!("{:<18} {:<16} {:>14}\n", "workload", "figure", "value");
    for r in results {
        if let Some(e) = &r.error {
            out.push_str(&format!("{:<18} {:<16} {:>14}  {e}\n", r.name, "FAILED", "-"));
        }
        for (figure, value) in &r.figures {
            out.push_str(&format!("{:<18} {:<16} {:>14.2}\n", r.name, figure, value));
        }
    }
    out
}
