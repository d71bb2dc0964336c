//! The registry embedded as a library, as the README shows: an application's own axum
//! router with `wharf_registry::router` merged in, served in this process. The
//! application's route and the registry's must both answer, with either set of adapters
//! (in memory; files and SQLite).

use crate::harness::{content, http_client, open_upload, sha256_of, with_digest};
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wharf_registry::meta::{MemoryMetaStore, SqliteMetaStore};
use wharf_registry::storage::{FsBlobStore, MemoryBlobStore};
use wharf_registry::{Registry, RegistryConfig};

#[tokio::test]
async fn an_application_serves_its_own_routes_and_the_registry_from_memory() {
    let registry = Arc::new(Registry::new(
        Arc::new(MemoryBlobStore::new()),
        Arc::new(MemoryMetaStore::new()),
        RegistryConfig::default(),
    ));
    let address = serve(app(registry)).await;
    check_app_and_registry(address).await;
}

/// The README's example, adapters and background work and all.
#[tokio::test]
async fn an_application_serves_the_registry_from_files_and_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path(), true).await.expect("blob store opens");
    let meta = SqliteMetaStore::open(dir.path().join("metadata.sqlite"), true)
        .await
        .expect("metadata opens");
    let registry = Arc::new(Registry::new(
        Arc::new(blobs),
        Arc::new(meta),
        RegistryConfig::default(),
    ));
    let _maintenance = wharf_registry::Maintenance::new(registry.clone()).spawn();
    let address = serve(app(registry)).await;
    check_app_and_registry(address).await;
}

/// An application with a route of its own and the registry merged in.
fn app(registry: Arc<Registry>) -> axum::Router {
    axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(wharf_registry::router(registry))
}

/// Serves `app` on a free loopback port for the rest of the test's runtime.
async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the application serves") });
    address
}

async fn check_app_and_registry(address: SocketAddr) {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (http, base) = (http_client(), format!("http://{address}"));
        let health = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        assert_eq!(health.text().await.unwrap(), "ok");

        let v2 = http.get(format!("{base}/v2/")).send().await.unwrap();
        assert_eq!(v2.status(), StatusCode::OK);
        assert_eq!(v2.headers()["docker-distribution-api-version"], "registry/2.0");

        push_and_pull_a_blob(&http, &base).await;
        let unknown = http.get(format!("{base}/elsewhere")).send().await.unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND, "routes neither side defines");
    })
    .await
    .expect("the checks finished within 60 s");
}

/// POST + PUT of a 1 MiB blob into `embedded/app`, then GET and HEAD of it.
async fn push_and_pull_a_blob(http: &reqwest::Client, base: &str) {
    let bytes = content(31, 0..1 << 20);
    let digest = sha256_of(&bytes);
    let location = open_upload(http, base, "embedded/app").await.unwrap();
    let put = http
        .put(with_digest(&location, &digest))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(put.headers()["docker-content-digest"], digest.as_str());

    let blob_url = format!("{base}/v2/embedded/app/blobs/{digest}");
    let got = http.get(&blob_url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.bytes().await.unwrap() == bytes, "the blob pulled back differs");
    let head = http.head(&blob_url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], bytes.len().to_string().as_str());
}
