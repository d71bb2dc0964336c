//! An in-process registry (in memory) behind access control, served on a loopback port
//! with connect info (the login throttle counts per address), and HTTP helpers.

use base64::Engine;
use reqwest::{Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use wharf_oci::Digest;
use wharf_registry::auth::password::PasswordEntry;
use wharf_registry::auth::rules::{Rule, RuleAuthorizer, Who};
use wharf_registry::auth::users::ConfigUsers;
use wharf_registry::auth::{AccessControl, Actions};
use wharf_registry::meta::MemoryMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::{Registry, RegistryConfig};

pub struct AuthServer {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl AuthServer {
    /// Starts a registry whose access control `make` builds, given the server's base URL
    /// (for a token realm) and a scratch directory.
    pub async fn start(make: impl FnOnce(&str, &std::path::Path) -> AccessControl) -> AuthServer {
        AuthServer::serve(make, true).await
    }

    /// Like [`AuthServer::start`], served as an application might forget to: without
    /// connect info, so the registry does not know the clients' addresses.
    pub async fn start_without_connect_info(make: impl FnOnce(&str, &std::path::Path) -> AccessControl) -> AuthServer {
        AuthServer::serve(make, false).await
    }

    async fn serve(make: impl FnOnce(&str, &std::path::Path) -> AccessControl, connect_info: bool) -> AuthServer {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryBlobStore::new()),
            Arc::new(MemoryMetaStore::new()),
            RegistryConfig::default(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = wharf_registry::router_with_access(registry, make(&base, dir.path()));
        let task = tokio::spawn(async move {
            if connect_info {
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .unwrap();
            } else {
                axum::serve(listener, app).await.unwrap();
            }
        });
        let client = wharf_testkit::http_client_builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        AuthServer {
            base,
            client,
            dir,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with an optional `Authorization` value.
    pub fn request(&self, method: reqwest::Method, path: &str, auth: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match auth {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> Response {
        self.request(reqwest::Method::GET, path, auth).send().await.unwrap()
    }

    /// A monolithic blob upload; returns the answer and the digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8], auth: Option<&str>) -> (Response, Digest) {
        let digest = Digest::sha256_of(bytes);
        let response = self
            .request(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                auth,
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        (response, digest)
    }

    /// Pushes a config blob and a manifest tagged `tag`; the status of the first step
    /// that did not succeed, else of the manifest PUT.
    pub async fn push_image(&self, repo: &str, tag: &str, auth: Option<&str>) -> StatusCode {
        let config = format!("{{\"repo\":\"{repo}\"}}");
        let (response, digest) = self.push_blob(repo, config.as_bytes(), auth).await;
        if response.status() != StatusCode::CREATED {
            return response.status();
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest.to_string(),
                "size": config.len(),
            },
            "layers": [],
        });
        self.request(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/{tag}"), auth)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_string())
            .send()
            .await
            .unwrap()
            .status()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `Basic base64(user:password)`
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The `code` of the first error of a spec error body.
pub async fn error_code(response: Response) -> String {
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    body["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

pub fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A parameter of the response's challenge (`scope`, `error`, …), unquoted.
pub fn challenge_param(response: &Response, name: &str) -> Option<String> {
    let text = challenge(response);
    let start = text.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + text[start..].find('"')?;
    Some(text[start..end].to_string())
}

/// A bcrypt entry as `htpasswd -B` writes it (`$2y$`), at a cost cheap for tests.
pub fn entry(user: &str, password: &str, groups: &[&str]) -> PasswordEntry {
    PasswordEntry {
        username: user.into(),
        hash: bcrypt::hash(password, 4).unwrap().replacen("$2b$", "$2y$", 1),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn rule(who: &str, globs: &[&str], actions: &str) -> Rule {
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    Rule::new(vec![Who::parse(who).unwrap()], &globs, Actions::parse(actions)).unwrap()
}

/// The test policy: team-a may pull and push `team-a/*`; alice may also pull
/// `readonly/*`; bob may pull and push `bob/*`; anyone may pull `public/*`; admin may
/// do anything anywhere.
pub fn rules() -> Arc<RuleAuthorizer> {
    Arc::new(RuleAuthorizer::new(vec![
        rule("group:team-a", &["team-a/*"], "pull,push"),
        rule("user:alice", &["readonly/*"], "pull"),
        rule("user:bob", &["bob/*"], "pull,push"),
        rule("anonymous", &["public/*"], "pull"),
        rule("user:admin", &["*"], "pull,push,delete"),
    ]))
}

/// alice (team-a), bob and admin, with passwords `<name>-pw`.
pub fn users() -> Arc<ConfigUsers> {
    Arc::new(
        ConfigUsers::new(vec![
            entry("alice", "alice-pw", &["team-a"]),
            entry("bob", "bob-pw", &[]),
            entry("admin", "admin-pw", &[]),
        ])
        .unwrap(),
    )
}

pub fn alice() -> String {
    basic("alice", "alice-pw")
}

pub fn admin() -> String {
    basic("admin", "admin-pw")
}
