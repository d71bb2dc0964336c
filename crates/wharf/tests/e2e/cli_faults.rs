//! The CLI through a fault-injecting proxy in front of wharf: a refused upload start and
//! a cut download are retried and resumed; bytes that never match their digest end the
//! pull with exit code 5 and no file; a registry that keeps failing is exit code 1.

use crate::cli_harness::{Cli, Registry};
use crate::harness::content;
use reqwest::Method;
use wharf_testkit::{Fault, FaultProxy, FaultRule};

#[test]
fn transfers_recover_from_faults_and_report_corruption() {
    let wharf = Registry::wharf();
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host()));
    let cli = Cli::new();
    let original = content(9, 0..2_000_000);
    let data = cli.file("data.bin", &original);
    let reference = format!("{}/cli/faults:v1", proxy.host());
    let unavailable = Fault::Status {
        status: 503,
        retry_after: None,
    };

    proxy.add(FaultRule::new("/blobs/uploads/", unavailable.clone()).method(Method::POST));
    cli.ok(&["push", &reference, &data]);

    proxy.add(FaultRule::new("/blobs/sha256:", Fault::DropResponseAfter { bytes: 700_000 }).method(Method::GET));
    let out = cli.path("out");
    cli.ok(&["pull", &reference, "-o", out.to_str().unwrap()]);
    assert!(
        std::fs::read(out.join("data.bin")).unwrap() == original,
        "resumed download"
    );
    let ranged = proxy
        .requests()
        .iter()
        .filter(|r| r.method == Method::GET && r.path_and_query.contains("/blobs/sha256:"))
        .count();
    assert!(ranged >= 2, "the cut download was continued");

    proxy.add(
        FaultRule::new("/blobs/sha256:", Fault::CorruptResponse)
            .method(Method::GET)
            .times(100),
    );
    let corrupt = cli.path("corrupt");
    let line = cli.fails(
        &["pull", &reference, "-o", corrupt.to_str().unwrap(), "--retries", "2"],
        5,
    );
    assert!(line.contains("does not match its digest"), "{line}");
    let left: Vec<_> = std::fs::read_dir(&corrupt).unwrap().collect();
    assert!(left.is_empty(), "no file, partial or not: {left:?}");

    proxy.add(FaultRule::new("/manifests/", unavailable).times(100));
    let line = cli.fails(&["inspect", &reference, "--retries", "1"], 1);
    assert!(line.contains("503"), "{line}");
}
