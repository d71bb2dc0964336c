//! Peak memory of `wharf serve` for a 4 GiB blob (`WHARF_MEMORY_TEST_GIB` for another size): pushed in one monolithic PUT streamed
//! from a generator, then pulled as a stream and hashed on the client. The server's
//! VmHWM must stay under 64 MiB after each phase, whatever the blob's size.
//!
//! Ignored by default (it moves 8 GiB through loopback and disk); `scripts/measure-memory`
//! builds release and runs it with the figures printed.

use crate::harness::{
    content_digest, content_stream, fetch_hashed, http_client, open_upload, vm_hwm_kib, with_digest, Fetched,
    WharfProcess,
};
use reqwest::header::CONTENT_LENGTH;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// The blob's size: 4 GiB, or `WHARF_MEMORY_TEST_GIB` GiB (to check that the peak does
/// not grow with the size).
fn size() -> u64 {
    let gib = std::env::var("WHARF_MEMORY_TEST_GIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(4);
    gib << 30
}
const LIMIT_KIB: u64 = 64 << 10;
/// The client sends the body in pieces of this size.
const PIECE: u64 = 1 << 20;

/// Prints the server's peak memory after `phase`, and the throughput of the phase.
fn report(phase: &str, pid: u32, elapsed: Option<Duration>) -> u64 {
    let hwm = vm_hwm_kib(pid);
    let rate = elapsed.map_or(String::new(), |e| {
        format!(
            ", {} MiB in {e:.1?} = {:.0} MiB/s",
            size() >> 20,
            (size() >> 20) as f64 / e.as_secs_f64()
        )
    });
    eprintln!(
        "memory: after {phase}: server VmHWM {hwm} KiB ({:.1} MiB){rate}",
        hwm as f64 / 1024.0
    );
    hwm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "moves 8 GiB; run scripts/measure-memory"]
async fn a_4_gib_push_and_pull_keep_server_memory_under_64_mib() {
    let seed = 4;
    let size = size();
    let started = Instant::now();
    let digest = tokio::task::spawn_blocking(move || content_digest(seed, size))
        .await
        .unwrap();
    eprintln!(
        "memory: digest of the {} MiB content computed in {:.1?}",
        size >> 20,
        started.elapsed()
    );
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let (http, base, pid) = (http_client(), wharf.url(), wharf.child.id());
    report("start-up", pid, None);

    let location = open_upload(&http, &base, "memory/big").await.unwrap();
    let started = Instant::now();
    let response = http
        .put(with_digest(&location, &digest))
        .header(CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(content_stream(seed, size, PIECE)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let push = report("push", pid, Some(started.elapsed()));

    let started = Instant::now();
    let fetched = fetch_hashed(&http, &format!("{base}/v2/memory/big/blobs/{digest}"))
        .await
        .unwrap();
    assert_eq!(
        fetched,
        Fetched {
            status: StatusCode::OK,
            digest,
            len: size
        },
        "the pulled blob"
    );
    let pull = report("pull", pid, Some(started.elapsed()));

    assert!(
        push < LIMIT_KIB,
        "server VmHWM after the push is {push} KiB, over {LIMIT_KIB} KiB"
    );
    assert!(
        pull < LIMIT_KIB,
        "server VmHWM after the pull is {pull} KiB, over {LIMIT_KIB} KiB"
    );
}
