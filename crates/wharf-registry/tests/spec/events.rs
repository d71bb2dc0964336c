//! Event notifications: a real HTTP receiver on 127.0.0.1 records what wharf delivers,
//! fails with 500 or is down on demand; the registry and its dispatcher run over SQLite
//! (restarted on the same file) and over PostgreSQL (two replicas).

use crate::content::{Blob, Image};
use crate::harness::TestServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wharf_registry::events::{sign, Dispatcher, DispatcherHandle, Endpoint, EventKind, EventsConfig};
use wharf_registry::meta::{MetaStore, PostgresConfig, PostgresMetaStore, SqliteMetaStore};
use wharf_registry::registry::policy::Globs;
use wharf_registry::storage::FsBlobStore;
use wharf_registry::{Registry, RegistryConfig};

const SECRET: &str = "s3cret";

/// What a receiver heard: each delivery's headers and body.
#[derive(Default)]
struct Heard {
    deliveries: Mutex<Vec<(HeaderMap, Bytes)>>,
    failing: AtomicBool,
}

/// An HTTP endpoint that records deliveries (answering 204), or answers 500 while
/// failing; `stop` takes it down (its port refuses connections) until `start_on`.
struct Receiver {
    addr: SocketAddr,
    heard: Arc<Heard>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn record(State(heard): State<Arc<Heard>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if heard.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    heard.deliveries.lock().unwrap().push((headers, body));
    StatusCode::NO_CONTENT
}

impl Receiver {
    async fn start() -> Receiver {
        let mut r = Receiver {
            addr: "127.0.0.1:0".parse().unwrap(),
            heard: Arc::default(),
            stop: None,
            task: None,
        };
        r.listen().await;
        r
    }

    /// A receiver that is down: its port is reserved but nothing listens.
    async fn down() -> Receiver {
        let mut r = Receiver::start().await;
        r.stop().await;
        r
    }

    async fn listen(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(record))
            .with_state(self.heard.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        }));
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn fail(&self, failing: bool) {
        self.heard.failing.store(failing, Ordering::SeqCst);
    }

    /// The bodies received so far, parsed.
    fn events(&self) -> Vec<Value> {
        let deliveries = self.heard.deliveries.lock().unwrap();
        deliveries
            .iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }

    /// Waits until `n` events arrived (at most 20 s) and returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.events();
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Events config with fast retries, for `endpoints`.
fn events_config(endpoints: Vec<Endpoint>) -> EventsConfig {
    let mut config = EventsConfig::default();
    config.endpoints = endpoints;
    config.source = "wharf://test".into();
    config.retry_initial = Duration::from_millis(50);
    config.retry_max = Duration::from_millis(200);
    config.poll = Duration::from_millis(50);
    config
}

fn endpoint(receiver: &Receiver) -> Endpoint {
    let mut e = Endpoint::new(receiver.url());
    e.secret = Some(SECRET.into());
    e.timeout = Duration::from_secs(2);
    e
}

/// A test server whose registry has `events`, with a dispatcher running.
async fn server_with_events(events: EventsConfig) -> (TestServer, DispatcherHandle) {
    let config = RegistryConfig {
        events: events.clone(),
        ..RegistryConfig::default()
    };
    let s = TestServer::with_config(config).await;
    let dispatcher = Dispatcher::new(s.meta.clone(), events).unwrap().spawn();
    (s, dispatcher)
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn changes_are_delivered_as_signed_cloud_events_in_order() {
    let receiver = Receiver::start().await;
    let (s, _dispatcher) = server_with_events(events_config(vec![endpoint(&receiver)])).await;
    let image = Image::new(31);
    s.push_image("team/app", "v1", &image).await;
    s.push_manifest("team/app", "v1", &image.manifest).await; // no tag event: v1 stays
    s.push_manifest("team/app", "latest", &image.manifest).await;
    let other = Image::new(32);
    s.push_image("team/app", "latest", &other).await; // moves latest
    assert_eq!(s.delete("/v2/team/app/manifests/latest").await.status(), 202);
    let by_digest = format!("/v2/team/app/manifests/{}", image.manifest.digest);
    assert_eq!(s.delete(&by_digest).await.status(), 202);
    let layer = format!("/v2/team/app/blobs/{}", other.layer.digest);
    assert_eq!(s.delete(&layer).await.status(), 202);

    let expected = [
        "io.wharf.repository.created",
        "io.wharf.manifest.pushed",
        "io.wharf.tag.created",
        "io.wharf.manifest.pushed",
        "io.wharf.manifest.pushed",
        "io.wharf.tag.created",
        "io.wharf.manifest.pushed",
        "io.wharf.tag.moved",
        "io.wharf.tag.deleted",
        "io.wharf.manifest.deleted",
        "io.wharf.blob.deleted",
    ];
    let events = receiver.wait_for(expected.len()).await;
    assert_eq!(types(&events), expected);

    let pushed = &events[1];
    assert_eq!(pushed["specversion"], "1.0");
    assert_eq!(pushed["source"], "wharf://test");
    assert_eq!(pushed["subject"], format!("team/app@{}", image.manifest.digest));
    assert_eq!(pushed["datacontenttype"], "application/json");
    assert!(pushed["time"].as_str().unwrap().ends_with('Z'), "{pushed}");
    let data = &pushed["data"];
    assert_eq!(data["repository"], "team/app");
    assert_eq!(data["digest"], image.manifest.digest.as_str());
    assert_eq!(data["tag"], "v1");
    assert_eq!(data["mediaType"], image.manifest.media_type.as_str());
    assert_eq!(data["size"], image.manifest.bytes.len());
    assert_eq!(data["actor"], Value::Null, "no access control: anonymous");
    assert_eq!(events[7]["subject"], "team/app:latest");
    assert_eq!(events[7]["data"]["digest"], other.manifest.digest.as_str());
    assert_eq!(events[10]["data"]["digest"], other.layer.digest.as_str());

    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
    for (headers, body) in receiver.heard.deliveries.lock().unwrap().iter() {
        assert_eq!(headers["content-type"], "application/cloudevents+json");
        assert_eq!(
            headers["wharf-signature"].to_str().unwrap(),
            sign(SECRET.as_bytes(), body)
        );
        assert!(headers["wharf-signature"].to_str().unwrap().starts_with("sha256="));
    }
}

#[tokio::test]
async fn endpoints_get_only_the_repositories_and_types_they_ask_for() {
    let all = Receiver::start().await;
    let prod_pushes = Receiver::start().await;
    let mut filtered = endpoint(&prod_pushes);
    filtered.name = "prod-pushes".into();
    filtered.repositories = Some(Globs::new(&["prod/*"]).unwrap());
    filtered.events = Some(vec![EventKind::ManifestPushed]);
    let (s, _dispatcher) = server_with_events(events_config(vec![endpoint(&all), filtered])).await;
    s.push_image("dev/app", "1", &Image::new(41)).await;
    s.push_image("prod/team/app", "1", &Image::new(42)).await;
    assert_eq!(s.delete("/v2/prod/team/app/manifests/1").await.status(), 202);

    let everything = all.wait_for(7).await;
    assert_eq!(everything.len(), 7, "{:?}", types(&everything));
    let filtered = prod_pushes.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let filtered_now = prod_pushes.events();
    assert_eq!(types(&filtered_now), ["io.wharf.manifest.pushed"], "{filtered:?}");
    assert_eq!(filtered_now[0]["data"]["repository"], "prod/team/app");
}

#[tokio::test]
async fn a_failing_receiver_gets_every_event_in_order_once_it_recovers_and_holds_back_no_other() {
    let failing = Receiver::start().await;
    failing.fail(true);
    let healthy = Receiver::start().await;
    let mut second = endpoint(&healthy);
    second.name = "healthy".into();
    let (s, _dispatcher) = server_with_events(events_config(vec![endpoint(&failing), second])).await;
    let image = Image::new(51);
    s.push_image("app", "0", &image).await;
    for i in 1..6 {
        s.push_manifest("app", &i.to_string(), &image.manifest).await;
    }
    // 1 repository + 6 pushes + 6 tags.
    let delivered = healthy.wait_for(13).await;
    assert_eq!(delivered.len(), 13, "the healthy endpoint is not held back");
    assert!(failing.events().is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await; // a few failed attempts
    failing.fail(false);
    let recovered = failing.wait_for(13).await;
    let ids = |events: &[Value]| events.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&recovered), ids(&delivered), "same events, same order");
    let tags: Vec<&str> = recovered
        .iter()
        .filter(|e| e["type"] == "io.wharf.tag.created")
        .map(|e| e["data"]["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["0", "1", "2", "3", "4", "5"]);
}

/// A registry over SQLite in `dir`, served on a loopback port, with a dispatcher.
async fn sqlite_registry(dir: &std::path::Path, events: EventsConfig) -> (TestServerless, DispatcherHandle) {
    let blobs = Arc::new(FsBlobStore::open(dir, false).await.unwrap());
    let meta: Arc<dyn MetaStore> = Arc::new(SqliteMetaStore::open(dir.join("metadata.sqlite"), true).await.unwrap());
    let config = RegistryConfig {
        events: events.clone(),
        ..RegistryConfig::default()
    };
    let registry = Arc::new(Registry::new(blobs, meta.clone(), config));
    // The same name after the restart: it resumes at once rather than after the
    // previous process's lease ran out.
    let dispatcher = Dispatcher::new(meta, events).unwrap().with_holder("restarted").spawn();
    (TestServerless::serve(registry).await, dispatcher)
}

/// A registry served on a port, without the test server's temporary directory.
struct TestServerless {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl TestServerless {
    async fn serve(registry: Arc<Registry>) -> TestServerless {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = wharf_registry::router(registry);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServerless { base, task }
    }

    async fn push_blob(&self, http: &reqwest::Client, repo: &str, blob: &Blob) {
        let url = format!("{}/v2/{repo}/blobs/uploads/?digest={}", self.base, blob.digest);
        let response = http.post(url).body(blob.bytes.clone()).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }

    async fn push_image(&self, http: &reqwest::Client, repo: &str, tag: &str, image: &Image) {
        self.push_blob(http, repo, &image.config).await;
        self.push_blob(http, repo, &image.layer).await;
        let response = http
            .request(Method::PUT, format!("{}/v2/{repo}/manifests/{tag}", self.base))
            .header("content-type", &image.manifest.media_type)
            .body(image.manifest.bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

impl Drop for TestServerless {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn events_recorded_while_the_receiver_is_down_are_delivered_after_a_restart() {
    let http = wharf_testkit::http_client_builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::down().await;
    let config = events_config(vec![endpoint(&receiver)]);
    let image = Image::new(61);
    {
        let (server, dispatcher) = sqlite_registry(dir.path(), config.clone()).await;
        server.push_image(&http, "app", "1", &image).await;
        tokio::time::sleep(Duration::from_millis(200)).await; // failed attempts
        drop(dispatcher);
        drop(server);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    receiver.listen().await;
    let (_server, _dispatcher) = sqlite_registry(dir.path(), config).await;
    let events = receiver.wait_for(3).await;
    assert_eq!(
        types(&events),
        [
            "io.wharf.repository.created",
            "io.wharf.manifest.pushed",
            "io.wharf.tag.created"
        ]
    );
    assert_eq!(events[1]["data"]["digest"], image.manifest.digest.as_str());
}

#[tokio::test]
async fn without_endpoints_nothing_is_written_to_the_outbox() {
    let s = TestServer::start().await;
    s.push_image("app", "1", &Image::new(71)).await;
    let leased = s
        .meta
        .outbox_lease("probe", "test", std::time::SystemTime::now(), 10)
        .await
        .unwrap();
    assert_eq!(leased, wharf_registry::meta::Leased::Held(vec![]));
}

/// Two replicas over one PostgreSQL database, each with its dispatcher: every event
/// reaches the receiver, in order, and (as a matter of course) once.
#[tokio::test]
async fn replicas_on_postgres_deliver_each_event_once_in_order() {
    let http = wharf_testkit::http_client_builder().build().unwrap();
    let receiver = Receiver::start().await;
    let config = events_config(vec![endpoint(&receiver)]);
    let url = tokio::task::spawn_blocking(wharf_testkit::Postgres::fresh_database)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let blobs = Arc::new(FsBlobStore::open(dir.path(), false).await.unwrap());
        let mut pg = PostgresConfig::new(url.clone());
        pg.pool_size = 4;
        let meta: Arc<dyn MetaStore> = Arc::new(PostgresMetaStore::connect(&pg).await.unwrap());
        let registry = Arc::new(Registry::new(
            blobs,
            meta.clone(),
            RegistryConfig {
                events: config.clone(),
                ..RegistryConfig::default()
            },
        ));
        let dispatcher = Dispatcher::new(meta, config.clone()).unwrap().spawn();
        replicas.push((TestServerless::serve(registry).await, dispatcher));
    }
    let image = Image::new(81);
    // Both replicas push the first tag of a new repository at once: one announces it.
    let (a, b) = (&replicas[0].0, &replicas[1].0);
    tokio::join!(
        a.push_image(&http, "app", "a", &image),
        b.push_image(&http, "app", "b", &image)
    );
    for i in 0..6 {
        let server = &replicas[i % 2].0;
        server.push_image(&http, "app", &format!("t{i}"), &image).await;
    }
    // 1 repository + 8 pushes + 8 tag creations.
    let events = receiver.wait_for(17).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events_now = receiver.events();
    assert_eq!(events_now.len(), 17, "{:?}", types(&events));
    let created = types(&events_now)
        .iter()
        .filter(|t| *t == "io.wharf.repository.created")
        .count();
    assert_eq!(created, 1);
    let tags: Vec<&str> = events_now
        .iter()
        .filter(|e| e["type"] == "io.wharf.tag.created")
        .map(|e| e["data"]["tag"].as_str().unwrap())
        .collect();
    assert_eq!(&tags[2..], ["t0", "t1", "t2", "t3", "t4", "t5"], "in commit order");
}
