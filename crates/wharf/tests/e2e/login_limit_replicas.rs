//! Failed logins across two `wharf serve` replicas on one PostgreSQL database: with
//! `--login-limit-shared` the replicas count together, so wrong passwords sent to both
//! in turn are refused (429 TOOMANYREQUESTS, `Retry-After`) after `max_failed_logins`
//! in all; without it each replica counts on its own (the documented default), and a
//! client gets the limit once per replica.

use crate::harness::{free_port, http_client, WharfProcess};
use reqwest::StatusCode;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use wharf_testkit::Postgres;

pub(crate) const MAX_FAILED_LOGINS: usize = 3;

/// Writes, in `dir`, a config of Basic auth with one user `ci` (password `ci-secret`,
/// may pull) and a limit of [`MAX_FAILED_LOGINS`] failed logins a quarter of an hour;
/// returns its path.
pub(crate) fn login_limited_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("wharf.toml");
    let hash = bcrypt::hash("ci-secret", 4).unwrap();
    std::fs::write(
        &config,
        format!(
            "[auth]\nmode = \"basic\"\nmax_failed_logins = {MAX_FAILED_LOGINS}\nfailed_login_window = \"15m\"\n\
             [[auth.users]]\nname = \"ci\"\npassword_hash = \"{hash}\"\n\
             [[auth.rules]]\nwho = [\"user:ci\"]\nrepositories = [\"*\"]\nactions = [\"pull\"]\n"
        ),
    )
    .unwrap();
    config
}

/// Two replicas over one fresh database, Basic auth with one user and a limit of
/// [`MAX_FAILED_LOGINS`] a quarter of an hour; every process stops on drop.
struct Replicas {
    replicas: Vec<WharfProcess>,
    _dir: tempfile::TempDir,
}

impl Replicas {
    fn start(shared: bool) -> Replicas {
        let database = Postgres::fresh_database();
        let dir = tempfile::tempdir().unwrap();
        let config = login_limited_config(dir.path());
        let mut args = vec![
            "--metadata",
            "postgres",
            "--postgres-url",
            &database,
            "--postgres-pool-size",
            "4",
            "--config",
            config.to_str().unwrap(),
        ];
        if shared {
            args.push("--login-limit-shared");
        }
        // One after the other: the first migrates the database.
        let replicas = (0..2)
            .map(|n| WharfProcess::start_on(free_port(), &dir.path().join(format!("replica-{n}")), &args))
            .collect();
        Replicas { replicas, _dir: dir }
    }

    fn url(&self, n: usize) -> String {
        self.replicas[n % 2].url()
    }
}

async fn ping(http: &reqwest::Client, url: &str, password: &str) -> reqwest::Response {
    http.get(format!("{url}/v2/"))
        .basic_auth("ci", Some(password))
        .send()
        .await
        .unwrap()
}

/// The answer is 429 TOOMANYREQUESTS with a `Retry-After` within the window.
async fn assert_throttled(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&after), "Retry-After: {after}");
    let body = response.text().await.unwrap();
    assert!(body.contains("TOOMANYREQUESTS"), "{body}");
}

/// A client whose requests come from 127.0.0.2: another address on the loopback.
fn client_from_another_address() -> reqwest::Client {
    wharf_testkit::http_client_builder()
        .no_proxy()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_shared_limit_failed_logins_on_every_replica_count_together() {
    let cluster = Replicas::start(true);
    let http = http_client();
    for n in 0..MAX_FAILED_LOGINS {
        let refused = ping(&http, &cluster.url(n), "wrong").await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "wrong password {n}");
    }
    // The next guess is refused on either replica, the right password too.
    for n in 0..2 {
        assert_throttled(ping(&http, &cluster.url(MAX_FAILED_LOGINS + n), "wrong").await).await;
        assert_throttled(ping(&http, &cluster.url(n), "ci-secret").await).await;
    }
    // Another address is not locked out, on either replica.
    let other = client_from_another_address();
    for n in 0..2 {
        assert_eq!(
            ping(&other, &cluster.url(n), "ci-secret").await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_each_replica_counts_its_own_failed_logins() {
    let cluster = Replicas::start(false);
    let http = http_client();
    // Twice the limit, alternately: each replica has seen only the limit.
    for n in 0..2 * MAX_FAILED_LOGINS {
        let refused = ping(&http, &cluster.url(n), "wrong").await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "wrong password {n}");
    }
    for n in 0..2 {
        assert_throttled(ping(&http, &cluster.url(n), "wrong").await).await;
    }
}

#[test]
fn a_shared_limit_without_postgres_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["serve", "--listen", "127.0.0.1:0", "--auth-mode", "basic", "--data-dir"])
        .arg(dir.path())
        .arg("--login-limit-shared")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("login_limit_shared"), "{stderr}");
    assert!(stderr.contains("[metadata] kind = \"postgres\""), "{stderr}");
}
