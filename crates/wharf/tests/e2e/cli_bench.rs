//! `wharf bench`: every workload against wharf (with its CPU and memory, given its pid)
//! and against CNCF Distribution, and `--compare` of the two runs.

use crate::cli_harness::{Cli, Registry};

fn bench(cli: &Cli, registry: &Registry, label: &str, extra: &[&str]) -> serde_json::Value {
    let out = cli.path(&format!("{label}.json"));
    let url = format!("http://{}", registry.host());
    let mut args = vec![
        "bench",
        &url,
        "--label",
        label,
        "--big-mib",
        "4",
        "--chunk-mib",
        "1",
        "--duration",
        "300ms",
        "--connections",
        "4",
        "--small-count",
        "40",
        "--tag-count",
        "25",
        "--tag-page",
        "10",
        "--out",
    ];
    let out_str = out.to_str().unwrap().to_string();
    args.push(&out_str);
    args.extend_from_slice(extra);
    let run = cli.json(&args);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(saved, run);
    run
}

#[test]
fn bench_runs_against_wharf_and_distribution_and_compares_them() {
    let cli = Cli::new();
    let wharf = Registry::wharf();
    let Registry::Wharf { process, .. } = &wharf else {
        unreachable!()
    };
    let pid = process.child.id().to_string();
    let ours = bench(&cli, &wharf, "wharf", &["--server-pid", &pid]);
    let distribution = Registry::distribution();
    let theirs = bench(&cli, &distribution, "distribution", &[]);
    for run in [&ours, &theirs] {
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 7, "{run}");
        for r in results {
            assert_eq!(r["ok"], true, "{r}");
        }
    }
    // The kernel counts CPU time in 10 ms ticks: a 4 MiB push may cost less than one,
    // 300 ms of manifest GETs from 4 connections cannot.
    let results = ours["results"].as_array().unwrap();
    for r in results {
        assert!(r["figures"]["server_cpu_s"].as_f64().is_some_and(|s| s >= 0.0), "{r}");
    }
    let gets = results.iter().find(|r| r["name"] == "manifest_get").unwrap();
    let cpu = gets["figures"]["server_cpu_s"].as_f64().unwrap();
    assert!(cpu > 0.0, "300 ms of manifest GETs cost the server some CPU: {gets}");
    assert!(ours["server"]["peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert_eq!(ours["results"][6]["figures"]["tags"], 26.0);

    let table = cli.ok(&[
        "bench",
        "--compare",
        cli.path("wharf.json").to_str().unwrap(),
        cli.path("distribution.json").to_str().unwrap(),
    ]);
    assert!(table.starts_with("| figure | wharf | distribution |"), "{table}");
    assert!(table.contains("| manifest_get rps |"), "{table}");
    assert!(table.contains("all OK | all OK"), "{table}");

    let unknown = cli.fails(&["bench", &format!("http://{}", wharf.host()), "--only", "nope"], 2);
    assert!(unknown.contains("unknown workload"), "{unknown}");
}
