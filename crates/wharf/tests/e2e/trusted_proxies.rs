//! The failed-login limit behind a reverse proxy (`trusted_proxies`): requests from a
//! trusted proxy's address (here 127.0.0.1, which sends `X-Forwarded-For` itself, as a
//! proxy in front would) are counted per forwarded client, so one client's failures do
//! not lock out another behind the same proxy; from an untrusted peer the header is
//! ignored and every request counts against the peer's own address.

use crate::harness::{http_client, WharfProcess};
use crate::login_limit_replicas::{login_limited_config, MAX_FAILED_LOGINS};
use reqwest::StatusCode;

/// `wharf serve` with Basic auth, one user `ci` and a limit of [`MAX_FAILED_LOGINS`] a
/// quarter of an hour, started with `env`.
fn start(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> WharfProcess {
    let config = login_limited_config(dir.path());
    WharfProcess::start_with_env(&dir.path().join("data"), &["--config", config.to_str().unwrap()], env)
}

/// `GET /v2/` as `ci` with `password`, forwarded for `forwarded_for`.
async fn ping(server: &WharfProcess, forwarded_for: &str, password: &str) -> StatusCode {
    http_client()
        .get(format!("{}/v2/", server.url()))
        .basic_auth("ci", Some(password))
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_failed_logins_count_per_forwarded_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &[("WHARF_TRUSTED_PROXIES", "10.9.9.9,127.0.0.1")]);
    for n in 0..MAX_FAILED_LOGINS {
        let status = ping(&server, "203.0.113.1", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong password {n}");
    }
    assert_eq!(
        ping(&server, "203.0.113.1", "ci-secret").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A made-up entry left of the proxy's does not make the client someone else.
    assert_eq!(
        ping(&server, "203.0.113.2, 203.0.113.1", "ci-secret").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy still signs in, directly or through a
    // second trusted proxy.
    assert_eq!(ping(&server, "203.0.113.2", "ci-secret").await, StatusCode::OK);
    assert_eq!(
        ping(&server, "203.0.113.1, 203.0.113.2, 10.9.9.9", "ci-secret").await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_from_a_peer_that_is_not_trusted_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &[("WHARF_TRUSTED_PROXIES", "10.9.9.9")]);
    for n in 0..MAX_FAILED_LOGINS {
        let status = ping(&server, &format!("203.0.113.{n}"), "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong password {n}");
    }
    // Every request counted against 127.0.0.1, whatever it claimed.
    assert_eq!(
        ping(&server, "198.51.100.7", "ci-secret").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
