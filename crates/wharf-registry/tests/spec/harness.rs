//! An in-process registry (files + SQLite in a temp dir) served on a loopback port.
//!
//! The data lives in `<temp>/data`, so a test can check that nothing was ever written
//! beside it (`<temp>` holds nothing else).
//!
//! With `WHARF_SPEC_METADATA=postgres` the metadata is in a fresh database of the test
//! binary's PostgreSQL server instead (`scripts/test` runs part of the suite so).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wharf_registry::meta::{MetaStore, PostgresConfig, PostgresMetaStore, SqliteMetaStore};
use wharf_registry::storage::{BlobStore, FsBlobStore};
use wharf_registry::{Registry, RegistryConfig};

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The registry behind the router, for what HTTP cannot trigger (expiry sweeps).
    pub registry: Arc<Registry>,
    /// The registry's metadata store.
    pub meta: Arc<dyn MetaStore>,
    dir: Arc<tempfile::TempDir>,
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
        let meta = metadata_store(&data).await;
        let registry = Arc::new(Registry::new(blobs, meta.clone(), config));
        TestServer::serve(registry, meta, Arc::new(dir)).await
    }

    /// A server whose repositories under the routes' prefixes pull through them.
    pub async fn with_upstreams(config: RegistryConfig, upstreams: wharf_registry::upstream::Upstreams) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let blobs = Arc::new(FsBlobStore::open(&data, false).await.unwrap());
        let meta = metadata_store(&data).await;
        let registry = Arc::new(Registry::new(blobs, meta.clone(), config).with_upstreams(upstreams));
        TestServer::serve(registry, meta, Arc::new(dir)).await
    }

    /// A server over `blobs` (another adapter: S3), with the suite's metadata store.
    pub async fn with_store(config: RegistryConfig, blobs: Arc<dyn BlobStore>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let meta = metadata_store(&data).await;
        let registry = Arc::new(Registry::new(blobs, meta.clone(), config));
        TestServer::serve(registry, meta, Arc::new(dir)).await
    }

    /// Two replicas: two registries over one blob directory and one PostgreSQL
    /// database, each on its own port, as two `wharf serve` processes would be.
    pub async fn replicas() -> (TestServer, TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let a: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&data, false).await.unwrap());
        let b: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&data, false).await.unwrap());
        TestServer::replicas_over([a, b], dir).await
    }

    /// Two replicas over one S3 key prefix (on the test binary's SeaweedFS) and one
    /// PostgreSQL database: the production shape, in one process.
    pub async fn s3_replicas() -> (TestServer, TestServer) {
        let (a, b) = crate::s3::shared_prefix_stores().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        TestServer::replicas_over([Arc::new(a), Arc::new(b)], dir).await
    }

    /// Two replicas, one over each blob store (which share their bytes), with one
    /// fresh PostgreSQL database.
    async fn replicas_over(stores: [Arc<dyn BlobStore>; 2], dir: tempfile::TempDir) -> (TestServer, TestServer) {
        let dir = Arc::new(dir);
        let url = tokio::task::spawn_blocking(wharf_testkit::Postgres::fresh_database)
            .await
            .unwrap();
        let mut replicas = Vec::new();
        for blobs in stores {
            let mut config = PostgresConfig::new(url.clone());
            config.pool_size = 4;
            let meta: Arc<dyn MetaStore> = Arc::new(PostgresMetaStore::connect(&config).await.unwrap());
            let registry = Arc::new(Registry::new(blobs, meta.clone(), RegistryConfig::default()));
            replicas.push(TestServer::serve(registry, meta, dir.clone()).await);
        }
        let b = replicas.pop().unwrap();
        (replicas.pop().unwrap(), b)
    }

    async fn serve(registry: Arc<Registry>, meta: Arc<dyn MetaStore>, dir: Arc<tempfile::TempDir>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = wharf_registry::router(registry.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let client = wharf_testkit::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        TestServer {
            addr,
            client,
            registry,
            meta,
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

/// Whether the suite runs over PostgreSQL (`WHARF_SPEC_METADATA=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("WHARF_SPEC_METADATA").is_ok_and(|kind| kind == "postgres")
}

/// SQLite in the data directory, or a fresh PostgreSQL database (see the module doc).
async fn metadata_store(data: &Path) -> Arc<dyn MetaStore> {
    if on_postgres() {
        let url = tokio::task::spawn_blocking(wharf_testkit::Postgres::fresh_database)
            .await
            .unwrap();
        let mut config = PostgresConfig::new(url);
        config.pool_size = 8;
        return Arc::new(PostgresMetaStore::connect(&config).await.unwrap());
    }
    Arc::new(
        SqliteMetaStore::open(data.join("metadata.sqlite"), false)
            .await
            .unwrap(),
    )
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
