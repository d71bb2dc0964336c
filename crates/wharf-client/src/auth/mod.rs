//! Authentication: anonymous, Basic, and the bearer-token exchange a registry asks for
//! in its `WWW-Authenticate` challenge, with tokens cached per scope until they expire.
//!
//! The client learns each registry's scheme from its first 401 and then sends the
//! right `Authorization` up front, so a session pays for the challenge once.

mod challenge;
mod credentials;
mod helper;
mod tokens;

pub use challenge::{parse_challenges, Challenge};
pub use credentials::{docker_config_path, store_in_docker_config, Credential, CredentialStore, Credentials};
pub use helper::CredentialHelper;
pub(crate) use tokens::{fetch_token, Token};

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The access a request needs, in the token protocol's terms: `repository:NAME:pull,push`,
/// `registry:catalog:*`. A request may need several (a mount reads another repository).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    pub fn none() -> Scopes {
        Scopes(Vec::new())
    }

    pub fn repository(name: &str, actions: &str) -> Scopes {
        Scopes(vec![format!("repository:{name}:{actions}")])
    }

    pub fn catalog() -> Scopes {
        Scopes(vec!["registry:catalog:*".to_string()])
    }

    pub fn and_repository(mut self, name: &str, actions: &str) -> Scopes {
        let scope = format!("repository:{name}:{actions}");
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
        self
    }

    /// Adds a scope a challenge named, unless it is already asked for.
    fn with(mut self, extra: Option<&str>) -> Scopes {
        for scope in extra.into_iter().flat_map(|s| s.split(' ')).filter(|s| !s.is_empty()) {
            if !self.0.iter().any(|s| s == scope) {
                self.0.push(scope.to_string());
            }
        }
        self
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// How a registry wants to be authenticated, as its last challenge said.
#[derive(Debug, Clone)]
enum Scheme {
    Basic,
    Bearer,
}

#[derive(Default)]
struct HostAuth {
    scheme: Option<Scheme>,
    tokens: HashMap<String, Token>,
}

/// What the client knows about authenticating to each registry it talks to.
pub(crate) struct AuthState {
    credentials: Credentials,
    hosts: Mutex<HashMap<String, HostAuth>>,
    /// Held while a challenge is answered, so that requests refused at the same moment
    /// fetch one token between them rather than one each.
    answering: tokio::sync::Mutex<()>,
}

impl AuthState {
    pub(crate) fn new(credentials: Credentials) -> AuthState {
        AuthState {
            credentials,
            hosts: Mutex::new(HashMap::new()),
            answering: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub(crate) fn credential(&self, registry: &str) -> Option<&Credential> {
        self.credentials.get(registry)
    }

    /// The `Authorization` value to send up front, if the registry's scheme is known and
    /// what it needs is at hand.
    pub(crate) fn authorization(&self, registry: &str, scopes: &Scopes) -> Option<String> {
        let hosts = self.hosts.lock().expect("auth state lock");
        let host = hosts.get(registry)?;
        match host.scheme.as_ref()? {
            Scheme::Basic => self.credential(registry).map(Credential::basic_header),
            Scheme::Bearer => {
                let now = Instant::now();
                let exact = host.tokens.get(&scopes.key()).filter(|t| t.is_fresh(now));
                // A token for more (pull,push) also serves a request for less (pull).
                let wider = || {
                    host.tokens
                        .iter()
                        .find(|(key, t)| t.is_fresh(now) && covers(key, scopes))
                        .map(|(_, t)| t)
                };
                exact.or_else(wider).map(|t| format!("Bearer {}", t.value))
            }
        }
    }

    /// Answers a 401 to a request that carried `sent`: a refused password is final; a
    /// refused or missing token is fetched anew, unless another request already did.
    pub(crate) async fn answer_unauthorized(
        &self,
        http: &reqwest::Client,
        registry: &str,
        www_authenticate: Option<&str>,
        scopes: &Scopes,
        sent: Option<&str>,
    ) -> Result<()> {
        if sent.is_some_and(|s| s.starts_with("Basic ")) {
            return Err(Error::Auth {
                registry: registry.to_string(),
                message: "the registry refused the user name and password".into(),
            });
        }
        let _one_at_a_time = self.answering.lock().await;
        if let Some(sent) = sent {
            self.forget_token(registry, sent);
        }
        match self.authorization(registry, scopes) {
            Some(now) if Some(now.as_str()) != sent => Ok(()),
            _ => self.answer_challenge(http, registry, www_authenticate, scopes).await,
        }
    }

    /// Answers a 401: learns the scheme and, for bearer challenges, fetches a token for
    /// `scopes` (plus any the challenge names). Errors when the registry wants
    /// credentials the client does not have or refuses the ones it has.
    pub(crate) async fn answer_challenge(
        &self,
        http: &reqwest::Client,
        registry: &str,
        www_authenticate: Option<&str>,
        scopes: &Scopes,
    ) -> Result<()> {
        let challenges = www_authenticate.map(parse_challenges).unwrap_or_default();
        let bearer = challenges.iter().find(|c| c.scheme == "bearer");
        let basic = challenges.iter().find(|c| c.scheme == "basic");
        let credential = self.credential(registry).cloned();
        if let Some(challenge) = bearer {
            let realm = challenge.param("realm").ok_or_else(|| Error::Auth {
                registry: registry.to_string(),
                message: "the bearer challenge names no realm to fetch a token from".into(),
            })?;
            let service = challenge.param("service").map(str::to_string);
            let wanted = scopes.clone().with(challenge.param("scope"));
            let token = fetch_token(http, registry, realm, service.as_deref(), &wanted, credential.as_ref()).await?;
            let mut hosts = self.hosts.lock().expect("auth state lock");
            let host = hosts.entry(registry.to_string()).or_default();
            host.scheme = Some(Scheme::Bearer);
            // Stored under the scopes the caller asks with, so its next request finds it.
            host.tokens.insert(scopes.key(), token);
            return Ok(());
        }
        if basic.is_some() || challenges.is_empty() {
            if credential.is_none() {
                return Err(Error::Auth {
                    registry: registry.to_string(),
                    message:
                        "the registry asks for a user name and password (use `wharf login` or --username/--password)"
                            .into(),
                });
            }
            let mut hosts = self.hosts.lock().expect("auth state lock");
            let host = hosts.entry(registry.to_string()).or_default();
            host.scheme = Some(Scheme::Basic);
            return Ok(());
        }
        Err(Error::Auth {
            registry: registry.to_string(),
            message: format!("unsupported authentication scheme {:?}", challenges[0].scheme),
        })
    }

    /// Forgets a token the registry no longer accepts (the `Authorization` value sent).
    fn forget_token(&self, registry: &str, sent: &str) {
        let mut hosts = self.hosts.lock().expect("auth state lock");
        if let Some(host) = hosts.get_mut(registry) {
            host.tokens.retain(|_, t| format!("Bearer {}", t.value) != sent);
        }
    }
}

/// Whether the scopes a token was granted for (`key`) include every scope asked for:
/// the same resources, with at least the same actions.
fn covers(key: &str, wanted: &Scopes) -> bool {
    let granted: Vec<(&str, Vec<&str>)> = key.split(' ').filter_map(split_scope).collect();
    wanted.as_slice().iter().all(|scope| {
        let Some((resource, actions)) = split_scope(scope) else {
            return false;
        };
        granted
            .iter()
            .any(|(r, a)| *r == resource && actions.iter().all(|x| a.contains(x) || a.contains(&"*")))
    })
}

/// `repository:NAME:pull,push` → (`repository:NAME`, [pull, push]).
fn split_scope(scope: &str) -> Option<(&str, Vec<&str>)> {
    let (resource, actions) = scope.rsplit_once(':')?;
    Some((resource, actions.split(',').collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wider_grants_cover_narrower_requests() {
        let key = Scopes::repository("a", "pull,push").and_repository("b", "pull").key();
        assert!(covers(&key, &Scopes::repository("a", "pull")));
        assert!(covers(&key, &Scopes::repository("a", "push,pull")));
        assert!(covers(&key, &Scopes::repository("b", "pull")));
        assert!(!covers(&key, &Scopes::repository("b", "push")));
        assert!(!covers(&key, &Scopes::repository("c", "pull")));
        assert!(!covers(&key, &Scopes::repository("a", "delete")));
        assert!(covers("registry:catalog:*", &Scopes::catalog()));
    }

    #[test]
    fn scopes_merge_without_duplicates() {
        let s = Scopes::repository("a", "pull,push")
            .and_repository("b", "pull")
            .and_repository("b", "pull")
            .with(Some("repository:a:pull,push repository:c:pull"));
        assert_eq!(
            s.as_slice(),
            ["repository:a:pull,push", "repository:b:pull", "repository:c:pull"]
        );
    }

    #[test]
    fn basic_scheme_sends_credentials_once_learned() {
        let mut creds = Credentials::new();
        creds.insert("r.io", Credential::new("u", "p"));
        let state = AuthState::new(creds);
        let scopes = Scopes::repository("a", "pull");
        assert_eq!(state.authorization("r.io", &scopes), None);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(state.answer_challenge(&http, "r.io", Some(r#"Basic realm="x""#), &scopes))
            .unwrap();
        assert_eq!(state.authorization("r.io", &scopes).as_deref(), Some("Basic dTpw"));
        let err = rt
            .block_on(state.answer_challenge(&http, "other.io", Some(r#"Basic realm="x""#), &scopes))
            .unwrap_err();
        assert!(err.is_auth());
    }
}
