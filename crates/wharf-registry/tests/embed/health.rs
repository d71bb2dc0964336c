//! `/healthz` and `/readyz` as an embedding application gets them with the router: open
//! even behind access control (and never a login attempt), 503 naming the failing
//! store (and nothing of why), 503 once the registry is stopping, and store probes
//! rate-limited whoever asks.

use axum::body::Body;
use http::{Request, StatusCode};
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tower::ServiceExt;
use wharf_registry::async_trait;
use wharf_registry::auth::rules::RuleAuthorizer;
use wharf_registry::auth::{AccessControl, Challenge};
use wharf_registry::bytes::Bytes;
use wharf_registry::meta::MemoryMetaStore;
use wharf_registry::storage::{AppendSource, BlobStore, ByteStream, MemoryBlobStore, StoredBlob};
use wharf_registry::wharf_oci::Digest;
use wharf_registry::{Registry, RegistryConfig};

/// The in-memory blob store, whose uploads fail while `broken` is set (a full or
/// unreachable store), counting how many uploads it was asked to create.
#[derive(Default)]
struct SickStore {
    inner: MemoryBlobStore,
    broken: AtomicBool,
    uploads_created: AtomicUsize,
}

#[async_trait]
impl BlobStore for SickStore {
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        self.inner.blob_size(digest).await
    }
    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream> {
        self.inner.read_blob(digest, range).await
    }
    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        self.inner.put_blob(digest, bytes).await
    }
    async fn delete_blob(&self, digest: &Digest) -> io::Result<()> {
        self.inner.delete_blob(digest).await
    }
    async fn create_upload(&self, id: &str) -> io::Result<()> {
        self.uploads_created.fetch_add(1, Ordering::SeqCst);
        if self.broken.load(Ordering::SeqCst) {
            return Err(io::Error::other("/secret/path/to/blobs: Input/output error"));
        }
        self.inner.create_upload(id).await
    }
    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.inner.append_upload(id, offset, source).await
    }
    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream> {
        self.inner.read_upload(id, len).await
    }
    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        self.inner.commit_upload(id, len, digest).await
    }
    async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.inner.delete_upload(id).await
    }
    async fn list_uploads(&self) -> io::Result<Vec<String>> {
        self.inner.list_uploads().await
    }
    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        self.inner.list_blobs().await
    }
}

fn registry(store: Arc<SickStore>) -> Arc<Registry> {
    Arc::new(Registry::new(
        store,
        Arc::new(MemoryMetaStore::new()),
        RegistryConfig::default(),
    ))
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header("authorization", "Basic d3Jvbmc6d3Jvbmc=") // wrong:wrong, for the probes to ignore
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn probes_answer_without_credentials_and_say_only_which_store_fails() {
    let store = Arc::new(SickStore::default());
    let registry = registry(store.clone());
    let control = AccessControl::new(
        Challenge::Basic { realm: "wharf".into() },
        Arc::new(RuleAuthorizer::new(vec![])),
    )
    .with_throttle(Some(wharf_registry::auth::throttle::LoginThrottle::new(
        1,
        std::time::Duration::from_secs(60),
    )));
    let app = wharf_registry::router_with_access(registry.clone(), control);

    // Open behind access control, with wrong credentials sent many times: the probes
    // never sign anyone in, so they never count as failed logins either.
    for _ in 0..5 {
        assert_eq!(
            get(&app, "/healthz").await,
            (StatusCode::OK, r#"{"status":"ok"}"#.into())
        );
        assert_eq!(
            get(&app, "/readyz").await,
            (StatusCode::OK, r#"{"status":"ready"}"#.into())
        );
    }
    assert_eq!(
        get(&app, "/v2/").await.0,
        StatusCode::UNAUTHORIZED,
        "the API itself is not open"
    );

    // A failing blob store: 503, naming the store, nothing of the error.
    store.broken.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "not ready", "metadata": "ok", "blobs": "not ready", "shutting_down": false})
    );
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK, "the process is still up");

    // Recovered: ready again once the last probe's result has expired.
    store.broken.store(false, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);

    // Stopping: not ready whatever the stores say; still up.
    registry.begin_shutdown();
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains(r#""shutting_down":true"#), "{body}");
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn store_probes_are_rate_limited_whoever_asks() {
    let store = Arc::new(SickStore::default());
    let app = wharf_registry::router(registry(store.clone()));
    let asked = futures::future::join_all((0..200).map(|_| get(&app, "/readyz"))).await;
    assert!(asked.iter().all(|(status, _)| *status == StatusCode::OK));
    let probes = store.uploads_created.load(Ordering::SeqCst);
    assert!(
        probes <= 2,
        "200 readiness requests at once probed the store {probes} times"
    );
    assert!(
        store.inner.list_uploads().await.unwrap().is_empty(),
        "a probe leaves no upload behind"
    );
    // HEAD works as GET without a body (what some balancers send).
    let head = Request::head("/healthz").body(Body::empty()).unwrap();
    assert_eq!(app.clone().oneshot(head).await.unwrap().status(), StatusCode::OK);
}
