//! Event notifications of `wharf serve`: SIGKILL between commits and deliveries loses
//! no event and invents none; events older than `max_age` are dropped with a log line
//! and a metric.

use crate::harness::{free_port, http_client, sha256_of, WharfProcess};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wharf_registry::axum;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Default)]
struct Heard {
    bodies: Mutex<Vec<Value>>,
    failing: AtomicBool,
}

async fn record(
    axum::extract::State(heard): axum::extract::State<Arc<Heard>>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    if heard.failing.load(Ordering::SeqCst) {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    heard
        .bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    axum::http::StatusCode::OK
}

/// A webhook receiver on `addr` recording what it is sent.
async fn receiver(addr: SocketAddr, heard: Arc<Heard>) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(record))
        .with_state(heard);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

fn write_config(dir: &Path, port: u16, extra: &str) -> String {
    let path = dir.join("wharf.toml");
    let text = format!(
        "[events]\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\npoll = \"100ms\"\n{extra}\n\
         [[events.endpoints]]\nname = \"hook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"k\"\nevents = \"manifest.pushed\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn sha256(bytes: &[u8]) -> String {
    sha256_of(bytes)
}

/// Pushes a config blob into `repo` (monolithic POST); its descriptor.
async fn push_config(http: &reqwest::Client, base: &str, repo: &str) -> reqwest::Result<Value> {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let digest = sha256(config);
    let response = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
        .body(config.to_vec())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    Ok(json!({"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": config.len()}))
}

/// A manifest unique to `n`, over `config`.
fn manifest(config: &Value, n: usize) -> (Vec<u8>, String) {
    let bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [],
        "annotations": {"n": n.to_string()},
    }))
    .unwrap();
    let digest = sha256(&bytes);
    (bytes, digest)
}

/// The manifest.pushed events heard, by (repository, tag) → digest; duplicates (the
/// same `id` again, which at-least-once allows) counted once.
fn pushed(heard: &Heard) -> HashMap<(String, String), String> {
    let mut seen = HashSet::new();
    let mut found = HashMap::new();
    for e in heard.bodies.lock().unwrap().iter() {
        if !seen.insert(e["id"].as_str().unwrap().to_string()) {
            continue;
        }
        assert_eq!(e["type"], "io.wharf.manifest.pushed");
        let data = &e["data"];
        let key = (
            data["repository"].as_str().unwrap().to_string(),
            data["tag"].as_str().unwrap().to_string(),
        );
        let previous = found.insert(key, data["digest"].as_str().unwrap().to_string());
        assert!(previous.is_none(), "one push per tag in this test: {e}");
    }
    found
}

/// Clients push tagged manifests while the receiver is down; wharf is SIGKILLed
/// mid-traffic and restarted with the receiver up. Every acknowledged push has its
/// event, and every event names a manifest the registry holds (no event for a push
/// whose commit the kill prevented).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_between_commit_and_delivery_loses_no_event_and_invents_none() {
    let dir = tempfile::tempdir().unwrap();
    let receiver_port = free_port();
    let config = write_config(dir.path(), receiver_port, "");
    let data = dir.path().join("data");
    let port = free_port();
    let mut wharf = WharfProcess::start_on(port, &data, &["--config", &config]);
    let base = wharf.url();
    let http = http_client();

    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String, String)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, base, acknowledged, count) = (http.clone(), base.clone(), acknowledged.clone(), count.clone());
        clients.push(tokio::spawn(async move {
            let repo = format!("app{c}");
            let Ok(config) = push_config(&http, &base, &repo).await else {
                return;
            };
            for n in 0..10_000 {
                let (bytes, digest) = manifest(&config, n);
                let tag = format!("t{n}");
                let sent = http
                    .put(format!("{base}/v2/{repo}/manifests/{tag}"))
                    .header("content-type", OCI_MANIFEST)
                    .body(bytes)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        acknowledged.lock().unwrap().push((repo.clone(), tag, digest));
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::SeqCst) < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wharf.kill();
    for client in clients {
        let _ = tokio::time::timeout(Duration::from_secs(10), client).await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 40,
        "{} pushes before the kill",
        acknowledged.len()
    );

    let heard = Arc::new(Heard::default());
    let _receiver = receiver(format!("127.0.0.1:{receiver_port}").parse().unwrap(), heard.clone()).await;
    let _wharf = WharfProcess::start_on(port, &data, &["--config", &config]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pushed(&heard).len() < acknowledged.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // anything more would come now
    let events = pushed(&heard);
    for (repo, tag, digest) in &acknowledged {
        assert_eq!(
            events.get(&(repo.clone(), tag.clone())),
            Some(digest),
            "acknowledged push {repo}:{tag} has its event"
        );
    }
    for ((repo, tag), digest) in &events {
        let response = http
            .head(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "the event's push {repo}:{tag} committed"
        );
        assert_eq!(response.headers()["docker-content-digest"].to_str().unwrap(), digest);
    }
}

/// A receiver failing for longer than `max_age`: the events are dropped, the log says
/// so and `wharf_events_dropped_total` counts them; later events are delivered.
#[tokio::test]
async fn events_older_than_max_age_are_dropped_with_a_log_line_and_a_metric() {
    let dir = tempfile::tempdir().unwrap();
    let heard = Arc::new(Heard::default());
    heard.failing.store(true, Ordering::SeqCst);
    let receiver_port = free_port();
    let _receiver = receiver(format!("127.0.0.1:{receiver_port}").parse().unwrap(), heard.clone()).await;
    let config = write_config(dir.path(), receiver_port, "max_age = \"1s\"");
    let log = dir.path().join("wharf.log");
    let _wharf = WharfProcess::start_logging_to(&dir.path().join("data"), &["--config", &config], &log);
    let base = _wharf.url();
    let http = http_client();
    let config_blob = push_config(&http, &base, "app").await.unwrap();
    for n in 0..2 {
        let (bytes, _) = manifest(&config_blob, n);
        let r = http
            .put(format!("{base}/v2/app/manifests/old{n}"))
            .header("content-type", OCI_MANIFEST)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let metrics_url = format!("{base}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let dropped = loop {
        let page = http.get(&metrics_url).send().await.unwrap().text().await.unwrap();
        let line = page
            .lines()
            .find(|l| l.starts_with("wharf_events_dropped_total{endpoint=\"hook\"}"))
            .map(str::to_string);
        if line.as_deref().is_some_and(|l| l.ends_with(" 2")) || Instant::now() > deadline {
            break line;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        dropped.as_deref(),
        Some("wharf_events_dropped_total{endpoint=\"hook\"} 2")
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.matches("event dropped").count(), 2, "{logged}");

    heard.failing.store(false, Ordering::SeqCst);
    let (bytes, digest) = manifest(&config_blob, 9);
    let r = http
        .put(format!("{base}/v2/app/manifests/new"))
        .header("content-type", OCI_MANIFEST)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(20);
    while heard.bodies.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = pushed(&heard);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events.get(&("app".into(), "new".into())), Some(&digest));
}

/// The removal events heard, deduplicated by `id`: (type, tag or "", digest, actor).
fn removals(heard: &Heard) -> Vec<(String, String, String, String)> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for e in heard.bodies.lock().unwrap().iter() {
        if !seen.insert(e["id"].as_str().unwrap().to_string()) {
            continue;
        }
        let data = &e["data"];
        assert_eq!(data["repository"], "app", "{e}");
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        found.push((
            text(&e["type"]),
            text(&data["tag"]),
            text(&data["digest"]),
            text(&data["actor"]),
        ));
    }
    found.sort();
    found
}

/// A retention run and a collection, each `wharf retention` / `wharf gc` in a process of
/// its own beside the server, announce what they remove: a `tag.deleted` by `retention`
/// for each tag untagged, then a `manifest.deleted` by `gc` for each manifest collected.
/// The commands only write the events to the outbox (in their removals' transactions)
/// and exit; the server's dispatcher delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_collection_announce_their_removals() {
    let dir = tempfile::tempdir().unwrap();
    let heard = Arc::new(Heard::default());
    let receiver_port = free_port();
    let _receiver = receiver(format!("127.0.0.1:{receiver_port}").parse().unwrap(), heard.clone()).await;
    let config = dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "[events]\npoll = \"100ms\"\n\
             [[events.endpoints]]\nname = \"hook\"\nurl = \"http://127.0.0.1:{receiver_port}/hook\"\n\
             events = [\"tag.deleted\", \"manifest.deleted\"]\n\
             [[retention]]\nrepositories = \"app\"\nkeep_last = 1\n"
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let data = dir.path().join("data");
    let wharf = WharfProcess::start(&data, &["--config", &config, "--gc-interval", "24h"]);
    let base = wharf.url();
    let http = http_client();
    let config_blob = push_config(&http, &base, "app").await.unwrap();
    let mut digests = Vec::new();
    for n in 0..3 {
        let (bytes, digest) = manifest(&config_blob, n);
        let r = http
            .put(format!("{base}/v2/app/manifests/t{n}"))
            .header("content-type", OCI_MANIFEST)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        digests.push(digest);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let wharf_cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args(args)
            .args(["--data-dir", data.to_str().unwrap(), "--config", &config])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wharf {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    wharf_cli(&["retention"]);
    // t0 and t1, the older two, are untagged; t2 stays.
    let untagged: Vec<_> = (0..2)
        .map(|n| {
            (
                "io.wharf.tag.deleted".to_string(),
                format!("t{n}"),
                digests[n].clone(),
                "retention".to_string(),
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while removals(&heard).len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(removals(&heard), untagged);

    tokio::time::sleep(Duration::from_millis(20)).await;
    wharf_cli(&["gc", "--grace", "0s"]);
    let mut expected = untagged;
    for digest in &digests[..2] {
        expected.push((
            "io.wharf.manifest.deleted".to_string(),
            String::new(),
            digest.clone(),
            "gc".to_string(),
        ));
    }
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(20);
    while removals(&heard).len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // anything more would come now
    assert_eq!(removals(&heard), expected);
    let kept = http
        .head(format!("{base}/v2/app/manifests/t2"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
}
