//! An in-process registry (files + SQLite in a temp dir) served on a loopback port.
//!
//! The data lives in `<temp>/data`, so a test can check that nothing was ever written
//! beside it (`<temp>` holds nothing else).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wharf_registry::meta::SqliteMetaStore;
use wharf_registry::storage::{BlobStore, FsBlobStore};
use wharf_registry::{Registry, RegistryConfig};

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The registry behind the router, for what HTTP cannot trigger (expiry sweeps).
    pub registry: Arc<Registry>,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_config(RegistryConfig::default()).await
    }

    pub async fn with_config(config: RegistryConfig) -> TestServer {
        TestServer::with_blob_store(config, |fs| Arc::new(fs)).await
    }

    /// A server whose blob store is `wrap` applied to the file store (to inject faults).
    pub async fn with_blob_store(
        config: RegistryConfig,
        wrap: impl FnOnce(FsBlobStore) -> Arc<dyn BlobStore>,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let blobs = wrap(FsBlobStore::open(&data, false).await.unwrap());
        TestServer::serve(config, dir, blobs).await
    }

    /// A server over `blobs` (another adapter: S3), with SQLite metadata in a temp dir.
    pub async fn with_store(config: RegistryConfig, blobs: Arc<dyn BlobStore>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        TestServer::serve(config, dir, blobs).await
    }

    async fn serve(config: RegistryConfig, dir: tempfile::TempDir, blobs: Arc<dyn BlobStore>) -> TestServer {
        let data = dir.path().join("data");
        let meta = SqliteMetaStore::open(data.join("metadata.sqlite"), false)
            .await
            .unwrap();
        let registry = Arc::new(Registry::new(blobs, Arc::new(meta), config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = wharf_registry::router(registry.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        // reqwest's TLS (unused on loopback) still needs a rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        TestServer {
            addr,
            client,
            registry,
            dir,
            task,
        }
    }

    /// `http://ADDR` + `path`; a full URL is returned as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") {
            path.to_string()
        } else {
            format!("http://{}{}", self.addr, path)
        }
    }

    /// Where the registry keeps blobs, uploads and `metadata.sqlite`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory that holds the data directory and nothing else.
    pub fn outer_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}
