//! Metrics, request ids and logs of `wharf serve`: `/metrics` moves with a push, a pull,
//! a refused login and a garbage collection; it can live on an address of its own or be
//! off; every response carries an `X-Request-Id` (the client's, when sane); JSON request
//! lines parse and carry the request's id, subject, repository, endpoint, status, bytes
//! and duration; and no password or token reaches the log.

use crate::auth_clients::write_config;
use crate::harness::{free_port, http_client, sha256_of, WharfProcess};
use base64::Engine;
use reqwest::StatusCode;
use std::path::Path;
use std::time::{Duration, Instant};

const REPO: &str = "team-a/app";

/// The value of the series `name{labels}` in a Prometheus text page (labels written as
/// the exporter writes them, in any order given here), or 0 when absent.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// A token for `scope` from wharf's `/token`, with Basic credentials.
async fn token(http: &reqwest::Client, base: &str, user: &str, password: &str, scope: &str) -> reqwest::Response {
    http.get(format!("{base}/token?service=wharf-e2e&scope={scope}"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

fn start_token_mode(dir: &Path, extra: &[&str]) -> WharfProcess {
    let config = write_config(dir, "token");
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    WharfProcess::start_logging_to(&dir.join("data"), &args, &dir.join("wharf.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_request_ids_and_json_logs_after_a_push_and_a_pull() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_token_mode(
        dir.path(),
        &["--log-format", "json", "--gc-interval", "1s", "--gc-grace", "1s"],
    );
    let base = server.url();
    let http = http_client();

    // A refused login and a login.
    let refused = token(
        &http,
        &base,
        "alice",
        "wrong-pw",
        &format!("repository:{REPO}:pull,push"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let granted = token(
        &http,
        &base,
        "alice",
        "alice-pw",
        &format!("repository:{REPO}:pull,push"),
    )
    .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let body: serde_json::Value = granted.json().await.unwrap();
    let bearer = body["token"].as_str().unwrap().to_string();
    // The OAuth2 form, whose body holds the password.
    let form = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "password"),
            ("service", "wharf-e2e"),
            ("username", "admin"),
            ("password", "admin-pw"),
            ("scope", "repository:team-a/app:pull"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);

    // A push: config, layer, manifest; the client names the manifest PUT's request id.
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let layer = vec![7u8; 3000];
    for blob in [&config, &layer] {
        let response = http
            .post(format!("{base}/v2/{REPO}/blobs/uploads/?digest={}", sha256_of(blob)))
            .bearer_auth(&bearer)
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_of(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256_of(&layer), "size": layer.len()}],
    })
    .to_string();
    let put = http
        .put(format!("{base}/v2/{REPO}/manifests/1"))
        .bearer_auth(&bearer)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .header("x-request-id", "client-chosen-id-42")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(
        put.headers()["x-request-id"],
        "client-chosen-id-42",
        "a sane id is echoed"
    );

    // A pull; an id that is not sane is replaced; none gets one.
    let get = http
        .get(format!("{base}/v2/{REPO}/manifests/1"))
        .bearer_auth(&bearer)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .header("x-request-id", "has spaces and is not sane")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let generated = get.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(generated, "has spaces and is not sane");
    assert!(!generated.is_empty() && generated.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(get.text().await.unwrap(), manifest);
    let blob = http
        .get(format!("{base}/v2/{REPO}/blobs/{}", sha256_of(&layer)))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(blob.status(), StatusCode::OK);
    let other = blob.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(other, generated, "each request gets its own id");
    assert_eq!(blob.bytes().await.unwrap().len(), layer.len());
    // Anonymous: refused with the challenge, and the 401 has an id too.
    let anonymous = http.get(format!("{base}/v2/{REPO}/tags/list")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("x-request-id"));

    // /metrics is on the main port without credentials; wait for a collection to end.
    let metrics_url = format!("{base}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = scrape(&http, &metrics_url).await;
        if sample(&page, "wharf_gc_runs_total", &[("result", "ok")]) >= 1.0 {
            break page;
        }
        assert!(Instant::now() < deadline, "no collection within 20 s:\n{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let count = |endpoint: &str, method: &str, status: &str| {
        sample(
            &page,
            "wharf_http_requests_total",
            &[("endpoint", endpoint), ("method", method), ("status", status)],
        )
    };
    assert_eq!(count("manifest", "PUT", "201"), 1.0, "{page}");
    assert_eq!(count("manifest", "GET", "200"), 1.0, "{page}");
    assert_eq!(count("upload_start", "POST", "201"), 2.0, "{page}");
    assert_eq!(count("blob", "GET", "200"), 1.0, "{page}");
    assert_eq!(count("tags", "GET", "401"), 1.0, "{page}");
    assert_eq!(count("token", "GET", "401"), 1.0, "{page}");
    assert_eq!(count("token", "GET", "200"), 1.0, "{page}");
    assert!(
        sample(
            &page,
            "wharf_http_request_duration_seconds_count",
            &[("endpoint", "manifest"), ("method", "GET"), ("class", "2xx")]
        ) >= 1.0,
        "a latency histogram:\n{page}"
    );
    let received = sample(
        &page,
        "wharf_http_received_bytes_total",
        &[("endpoint", "upload_start")],
    );
    assert_eq!(received, (config.len() + layer.len()) as f64, "{page}");
    let sent = sample(&page, "wharf_http_sent_bytes_total", &[("endpoint", "blob")]);
    assert_eq!(sent, layer.len() as f64, "{page}");
    assert_eq!(
        sample(&page, "wharf_auth_failures_total", &[("reason", "bad_password")]),
        1.0,
        "{page}"
    );
    assert!(
        sample(&page, "wharf_db_commit_group_size_count", &[("db", "metadata")]) >= 3.0,
        "{page}"
    );
    assert!(page.contains("wharf_db_commit_duration_seconds_bucket"), "{page}");
    assert!(
        sample(&page, "wharf_storage_blob_bytes", &[]) >= layer.len() as f64,
        "{page}"
    );
    assert_eq!(sample(&page, "wharf_uploads_in_progress", &[]), 0.0, "{page}");
    assert!(
        sample(&page, "wharf_cache_lookups_total", &[("cache", "content")]) >= 1.0,
        "{page}"
    );
    for leaked in [REPO, "alice", "client-chosen-id-42"] {
        assert!(!page.contains(leaked), "a label holds {leaked:?}:\n{page}");
    }

    // The log: every line is JSON; the manifest PUT's line has the request's fields.
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("wharf.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let put_line = lines
        .iter()
        .find(|l| l["target"] == "wharf::access" && l["request_id"] == "client-chosen-id-42")
        .unwrap_or_else(|| panic!("no request line for the PUT:\n{log}"));
    assert_eq!(put_line["subject"], "alice", "{put_line}");
    assert_eq!(put_line["repository"], REPO, "{put_line}");
    assert_eq!(put_line["endpoint"], "manifest", "{put_line}");
    assert_eq!(put_line["method"], "PUT", "{put_line}");
    assert_eq!(put_line["status"], 201, "{put_line}");
    assert_eq!(put_line["bytes_in"], manifest.len() as u64, "{put_line}");
    assert!(
        put_line["ms"].as_str().unwrap().parse::<f64>().unwrap() >= 0.0,
        "{put_line}"
    );
    let get_line = lines
        .iter()
        .find(|l| l["target"] == "wharf::access" && l["request_id"] == generated.as_str())
        .unwrap_or_else(|| panic!("no request line with the generated id {generated}:\n{log}"));
    assert_eq!(get_line["bytes_out"], manifest.len() as u64, "{get_line}");

    // Nothing secret: passwords, the Basic credentials, the token, the query string of
    // the token request.
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:alice-pw");
    for secret in [
        "alice-pw",
        "admin-pw",
        "wrong-pw",
        basic.as_str(),
        bearer.as_str(),
        "eyJ",
        "service=wharf-e2e",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_an_address_of_their_own_or_off_and_request_lines_off() {
    let http = http_client();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let server = WharfProcess::start_logging_to(
        &dir.path().join("data"),
        &["--metrics-listen", &metrics_listen, "--log-requests", "false"],
        &dir.path().join("wharf.log"),
    );
    let base = server.url();
    assert_eq!(
        http.get(format!("{base}/v2/")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let main = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND, "not on the main port");
    // The separate listener may start a moment after the main one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        match http.get(format!("http://{metrics_listen}/metrics")).send().await {
            Ok(r) if r.status() == StatusCode::OK => break r.text().await.unwrap(),
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("no metrics on {metrics_listen}: {other:?}"),
        }
    };
    assert_eq!(
        sample(
            &page,
            "wharf_http_requests_total",
            &[("endpoint", "base"), ("method", "GET"), ("status", "200")]
        ),
        1.0,
        "{page}"
    );
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("wharf.log")).unwrap();
    assert!(!log.contains("endpoint="), "no request lines:\n{log}");
    assert!(log.contains("metrics on http://"), "{log}");

    let dir = tempfile::tempdir().unwrap();
    let server = WharfProcess::start(&dir.path().join("data"), &["--metrics", "false"]);
    let off = http.get(format!("{}/metrics", server.url())).send().await.unwrap();
    assert_eq!(off.status(), StatusCode::NOT_FOUND);
}
