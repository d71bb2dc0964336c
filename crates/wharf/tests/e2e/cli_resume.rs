//! Resume across runs: a `wharf push` and a `wharf pull` of a 300 MiB blob whose network
//! goes silent midway (the fault proxy stalls the transfer) are killed, and run again:
//! the second run sends or receives only the rest, counted through the proxy, and the
//! blob arrives whole, checked against its digest.

use crate::cli_harness::{Cli, Registry};
use crate::harness::{content, content_digest, sha256_of_file};
use reqwest::Method;
use std::path::Path;
use std::time::{Duration, Instant};
use wharf_testkit::{Fault, FaultProxy, FaultRule};

const SIZE: u64 = 300 << 20;
/// Where the network goes silent: a little over a third of the blob.
const STALL_AT: u64 = 110 << 20;
/// What the second run may move besides the rest of the blob: a manifest, a config.
const SLACK: u64 = 1 << 20;

#[test]
fn a_killed_push_and_pull_continue_where_they_stopped() {
    let wharf = Registry::wharf();
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host()));
    let cli = Cli::new();
    let data = cli.path("big.bin");
    write_content(&data, 31, SIZE);
    let digest = content_digest(31, SIZE);
    let reference = format!("{}/cli/resume:v1", proxy.host());
    let hex = digest.trim_start_matches("sha256:");
    let transfers = cli.dir.path().join("home/.cache/wharf/transfers");

    // The push: the blob's upload (the PUT with `?digest=`, whose `:` is encoded) stalls
    // after STALL_AT bytes reached the registry.
    proxy.add(FaultRule::new(hex, Fault::StallRequestAfter { bytes: STALL_AT }).method(Method::PUT));
    let started = Instant::now();
    let mut first = cli.spawn(&["push", &reference, data.to_str().unwrap()]);
    wait_for("the push to stall", || proxy.traffic().to_upstream >= STALL_AT);
    assert!(
        std::fs::read_dir(&transfers).is_ok_and(|d| d.count() == 1),
        "the unfinished upload is recorded in {}",
        transfers.display()
    );
    // Let the registry keep what arrived of the cut request, then kill the CLI.
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap();
    first.wait().unwrap();
    let first_push = started.elapsed();
    assert!(
        proxy.traffic().to_upstream <= STALL_AT + SLACK,
        "the first push stalled at {STALL_AT} bytes: {:?}",
        proxy.traffic()
    );

    let before = proxy.traffic().to_upstream;
    let started = Instant::now();
    cli.ok(&["push", &reference, data.to_str().unwrap()]);
    let second_push = started.elapsed();
    let sent = proxy.traffic().to_upstream - before;
    assert!(
        sent <= SIZE - STALL_AT + SLACK,
        "the second push sent {sent} bytes; the rest is {}",
        SIZE - STALL_AT
    );
    assert!(
        std::fs::read_dir(&transfers).unwrap().count() == 0,
        "the record is removed once the upload finished"
    );

    // The pull: the download stalls after STALL_AT bytes reached the CLI.
    proxy.add(
        FaultRule::new(
            format!("/blobs/{digest}"),
            Fault::StallResponseAfter { bytes: STALL_AT },
        )
        .method(Method::GET),
    );
    let out = cli.path("out");
    let partial = out.join(format!(".big.bin.{}.partial", &hex[..16]));
    let before = proxy.traffic().to_client;
    let started = Instant::now();
    let mut first = cli.spawn(&["pull", &reference, "-o", out.to_str().unwrap()]);
    wait_for("the pull to stall with its bytes on disk", || {
        proxy.traffic().to_client - before >= STALL_AT && std::fs::metadata(&partial).is_ok_and(|m| m.len() >= STALL_AT)
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let first_pull = started.elapsed();
    assert!(
        proxy.traffic().to_client - before <= STALL_AT + SLACK,
        "the first pull stalled at {STALL_AT} bytes"
    );
    assert!(!out.join("big.bin").exists(), "nothing in place before it is verified");

    let before = proxy.traffic().to_client;
    let started = Instant::now();
    cli.ok(&["pull", &reference, "-o", out.to_str().unwrap()]);
    let second_pull = started.elapsed();
    let received = proxy.traffic().to_client - before;
    assert!(
        received <= SIZE - STALL_AT + SLACK,
        "the second pull received {received} bytes; the rest is {}",
        SIZE - STALL_AT
    );
    assert_eq!(sha256_of_file(&out.join("big.bin")), digest, "the blob arrived whole");
    assert!(!partial.exists(), "the partial file became the blob");
    eprintln!(
        "300 MiB, stalled at {} MiB: push {first_push:?} until killed, then {second_push:?} for \
         {sent} bytes; pull {first_pull:?} until killed, then {second_pull:?} for {received} bytes",
        STALL_AT >> 20
    );
}

/// Writes `len` bytes of content stream `seed` to `path`, 1 MiB at a time.
fn write_content(path: &Path, seed: u64, len: u64) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for at in (0..len).step_by(1 << 20) {
        file.write_all(&content(seed, at..len.min(at + (1 << 20)))).unwrap();
    }
    file.flush().unwrap();
}

/// Polls `done` every 20 ms for at most 60 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
