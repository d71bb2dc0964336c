//! `/readyz` during a graceful stop: not ready from the signal on, while the server
//! still serves for `--shutdown-delay`, then stops.

use crate::harness::{http_client, WharfProcess};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn readyz_answers_503_from_sigterm_while_the_server_still_serves_for_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &["--shutdown-delay", "3s"]);
    let base = wharf.url();
    let http = http_client();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    wharf.send_sigterm();
    let signalled = Instant::now();
    let deadline = signalled + Duration::from_secs(2);
    let answer = loop {
        // A new connection each time: the listener stays open during the delay.
        let fresh = http_client();
        let response = fresh.get(format!("{base}/readyz")).send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["shutting_down"], true, "{body}");
    assert_eq!(body["status"], "not ready");
    // The registry itself still answers during the delay.
    let v2 = http_client().get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(v2.status(), StatusCode::OK);
    assert!(signalled.elapsed() < Duration::from_secs(3), "checked within the delay");

    let status = wharf.wait_exit();
    assert!(status.success(), "{status}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "stopped after the delay, not before"
    );
}
