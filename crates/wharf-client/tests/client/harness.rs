//! wharf served in-process on a loopback port, with a count of the requests it saw per
//! path, and a client configured for tests (quick retries, no waiting for minutes).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wharf_client::{Client, ClientConfig, Credential, Credentials, ImageReference, Repository, RetryPolicy};
use wharf_registry::auth::password::PasswordEntry;
use wharf_registry::auth::rules::{Rule, RuleAuthorizer, Who};
use wharf_registry::auth::token::{SigningKey, TokenIssuer};
use wharf_registry::auth::users::ConfigUsers;
use wharf_registry::auth::{AccessControl, Actions, Challenge};
use wharf_registry::meta::MemoryMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::{Registry, RegistryConfig};

pub struct Wharf {
    pub host: String,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

pub enum Mode {
    Open,
    Basic,
    /// Tokens that expire after this long.
    Token(Duration),
}

impl Wharf {
    pub async fn start() -> Wharf {
        Wharf::with(Mode::Open, RegistryConfig::default()).await
    }

    pub async fn with(mode: Mode, config: RegistryConfig) -> Wharf {
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryBlobStore::new()),
            Arc::new(MemoryMetaStore::new()),
            config,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let app = match mode {
            Mode::Open => wharf_registry::router(registry),
            Mode::Basic => wharf_registry::router_with_access(
                registry,
                AccessControl::new(Challenge::Basic { realm: "wharf".into() }, rules()).with_authenticator(users()),
            ),
            Mode::Token(expiry) => {
                let (key, _) = SigningKey::generate().unwrap();
                let issuer =
                    TokenIssuer::new("wharf-test", "wharf-test", key).with_expiry(expiry, Duration::from_secs(3600));
                wharf_registry::router_with_access(
                    registry,
                    AccessControl::new(
                        Challenge::Bearer {
                            realm: format!("{base}/token"),
                            service: "wharf-test".into(),
                        },
                        rules(),
                    )
                    .with_authenticator(users())
                    .with_token_issuer(issuer),
                )
            }
        };
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counter = seen.clone();
        let app = app.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counter = counter.clone();
                async move {
                    let key = format!("{} {}", request.method(), request.uri().path());
                    *counter.lock().unwrap().entry(key).or_default() += 1;
                    next.run(request).await
                }
            },
        ));
        let task = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        Wharf {
            host: addr.to_string(),
            seen,
            task,
        }
    }

    /// How many requests of `method` reached paths starting with `path`.
    pub fn hits(&self, method: &str, path: &str) -> usize {
        let prefix = format!("{method} {path}");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn repo(&self, name: &str) -> Repository {
        repo_on(&self.host, name)
    }
}

impl Drop for Wharf {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn repo_on(host: &str, name: &str) -> Repository {
    format!("{host}/{name}").parse::<ImageReference>().unwrap().repository
}

/// Retries that wait milliseconds, not seconds.
pub fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
    }
}

pub fn client() -> Client {
    client_with(ClientConfig::default(), Credentials::new())
}

pub fn client_with(mut config: ClientConfig, credentials: Credentials) -> Client {
    if config.retry.initial_backoff == RetryPolicy::default().initial_backoff {
        config.retry = quick_retries(config.retry.max_attempts);
    }
    Client::new(config, credentials).unwrap()
}

pub fn credentials(host: &str, user: &str, password: &str) -> Credentials {
    let mut c = Credentials::new();
    c.insert(host, Credential::new(user, password));
    c
}

/// Bytes that differ from blob to blob and are cheap to make.
pub fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

/// `sha256:<hex>` computed independently of wharf's own digest code.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn users() -> Arc<ConfigUsers> {
    let entry = |user: &str, password: &str| PasswordEntry {
        username: user.into(),
        hash: bcrypt::hash(password, 4).unwrap(),
        groups: Vec::new(),
    };
    Arc::new(ConfigUsers::new(vec![entry("alice", "alice-pw"), entry("reader", "reader-pw")]).unwrap())
}

fn rules() -> Arc<RuleAuthorizer> {
    let rule = |who: &str, actions: &str| {
        Rule::new(
            vec![Who::parse(who).unwrap()],
            &["*".to_string()],
            Actions::parse(actions),
        )
        .unwrap()
    };
    Arc::new(RuleAuthorizer::new(vec![
        rule("user:alice", "pull,push,delete"),
        rule("user:reader", "pull"),
    ]))
}
