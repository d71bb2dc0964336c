//! The load generator runs every workload against wharf and reports each figure.

use crate::harness::*;
use std::time::Duration;
use wharf_client::bench::{run, table, BenchConfig, WORKLOADS};

#[tokio::test]
async fn every_workload_runs_and_reports_its_figures() {
    let wharf = Wharf::start().await;
    let client = client();
    let mut config = BenchConfig::new(wharf.repo("bench"));
    config.big_size = 3 << 20;
    config.chunk_size = 1 << 20;
    config.duration = Duration::from_millis(300);
    config.connections = 4;
    config.small_count = 50;
    config.tag_count = 30;
    config.tag_page_size = 7;
    config.server_pid = Some(std::process::id());
    let (results, server) = wharf_client::bench::run_measured(&client, &config).await;
    assert!(server["peak_rss_mib"] >= server["idle_rss_mib"]);
    assert!(results.iter().all(|r| r.figures.contains_key("server_cpu_s")));
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, WORKLOADS);
    for r in &results {
        assert!(r.ok, "{} failed: {:?}", r.name, r.error);
    }
    let figure = |w: &str, f: &str| results.iter().find(|r| r.name == w).unwrap().figures[f];
    assert!(figure("push_monolithic", "mib_s") > 0.0);
    assert!(figure("manifest_get", "rps") > 0.0);
    assert_eq!(figure("blob_head", "errors"), 0.0);
    assert_eq!(figure("tags", "tags"), 31.0);
    assert_eq!(
        wharf.hits("PATCH", "/v2/bench/push-chunked-"),
        3,
        "3 MiB in 1 MiB chunks"
    );
    assert!(wharf.hits("GET", "/v2/bench/tags-") >= 5, "the walk went page by page");
    assert!(table(&results).contains("manifest_get"));

    config.only = vec!["pull".into()];
    let only = run(&client, &config).await;
    assert_eq!(only.len(), 1);
    assert!(only[0].ok && only[0].name == "pull", "{:?}", only[0]);
}
