//! An application that serves the registry's router under a path prefix beside its own
//! routes, on a loopback port, and an HTTP client that follows the `Location` and `Link`
//! the registry answers, as a client of a nested registry must.

use reqwest::{Method, RequestBuilder, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use wharf_registry::auth::AccessControl;
use wharf_registry::meta::MemoryMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::{Registry, RegistryConfig};

pub struct App {
    /// `http://127.0.0.1:PORT`, without the prefix.
    pub base: String,
    pub client: reqwest::Client,
    /// The registry behind the router and its blob store, for what HTTP cannot show.
    pub registry: Arc<Registry>,
    pub blobs: Arc<MemoryBlobStore>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    /// The registry (in memory) nested at `prefix` of an app that also has `/health`.
    pub async fn nested(prefix: &str, config: RegistryConfig) -> App {
        App::serve(config, |registry| {
            axum::Router::new()
                .route("/health", axum::routing::get(|| async { "ok" }))
                .nest(prefix, wharf_registry::router(registry))
        })
        .await
    }

    /// The registry (in memory) merged at the root.
    pub async fn at_root(config: RegistryConfig) -> App {
        App::serve(config, wharf_registry::router).await
    }

    /// The registry behind the access control `make` builds (given the app's base URL,
    /// for a token realm), nested at `prefix`.
    pub async fn nested_with_access(prefix: &str, make: impl FnOnce(&str) -> AccessControl) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let access = make(&base);
        App::serve_on(listener, base, RegistryConfig::default(), |registry| {
            axum::Router::new().nest(prefix, wharf_registry::router_with_access(registry, access))
        })
        .await
    }

    async fn serve(config: RegistryConfig, build: impl FnOnce(Arc<Registry>) -> axum::Router) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        App::serve_on(listener, base, config, build).await
    }

    async fn serve_on(
        listener: tokio::net::TcpListener,
        base: String,
        config: RegistryConfig,
        build: impl FnOnce(Arc<Registry>) -> axum::Router,
    ) -> App {
        let blobs = Arc::new(MemoryBlobStore::new());
        let registry = Arc::new(Registry::new(blobs.clone(), Arc::new(MemoryMetaStore::new()), config));
        let app = build(registry.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        let client = wharf_testkit::http_client_builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        App {
            base,
            client,
            registry,
            blobs,
            task,
        }
    }

    /// A request to `target`: a path of the app (prefix included), or a full URL.
    pub fn request(&self, method: Method, target: &str) -> RequestBuilder {
        let url = if target.starts_with("http") {
            target.to_string()
        } else {
            format!("{}{}", self.base, target)
        };
        self.client.request(method, url)
    }

    pub async fn get(&self, target: &str) -> Response {
        self.request(Method::GET, target).send().await.unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

/// The `Location` of an answer, which must be there.
pub fn location(response: &Response) -> String {
    header(response, "location").unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
}

/// `target` with `key=value` added to its query.
pub fn with_query(target: &str, key: &str, value: &str) -> String {
    let separator = if target.contains('?') { '&' } else { '?' };
    format!("{target}{separator}{key}={value}")
}
