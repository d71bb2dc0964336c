//! An in-memory registry driven through its router with `tower::ServiceExt::oneshot`:
//! no sockets, so thousands of requests take milliseconds.

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::{Arc, LazyLock};
use tower::ServiceExt;
use wharf_registry::meta::MemoryMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::{Registry, RegistryConfig};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

/// Runs `f` to completion on the shared runtime (proptest bodies are synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

pub fn registry() -> Router {
    let config = RegistryConfig {
        delete_blobs: true,
        ..RegistryConfig::default()
    };
    let registry = Registry::new(
        Arc::new(MemoryBlobStore::new()),
        Arc::new(MemoryMetaStore::new()),
        config,
    );
    wharf_registry::router(Arc::new(registry))
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `errors[0].code` of a JSON error body ("" when there is none).
    pub fn code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request; header values are raw bytes, as a client may send anything.
pub async fn send(app: &Router, method: Method, uri: &str, headers: &[(&str, &[u8])], body: Vec<u8>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_bytes(value).expect("a valid header value"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, body }
}

/// Pushes `bytes` as a blob of `repo` (monolithic POST); its digest.
pub async fn push_blob(app: &Router, repo: &str, bytes: &[u8]) -> String {
    let digest = wharf_oci::Digest::sha256_of(bytes).to_string();
    let len = bytes.len().to_string();
    let a = send(
        app,
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        &[
            ("content-length", len.as_bytes()),
            ("content-type", b"application/octet-stream"),
        ],
        bytes.to_vec(),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    digest
}
