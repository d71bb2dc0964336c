//! The `[auth]` section of the config file (with `WHARF_AUTH_*` variables and
//! `--auth-*` flags for its main keys), turned into the library's [`AccessControl`].
//! Absent, or `mode = "none"`, the registry stays open as before.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wharf_registry::auth::htpasswd::HtpasswdFile;
use wharf_registry::auth::password::{PasswordAuthenticator, PasswordEntry, PasswordSource};
use wharf_registry::auth::rules::{Rule, RuleAuthorizer, Who};
use wharf_registry::auth::throttle::LoginThrottle;
use wharf_registry::auth::token::{SigningKey, TokenIssuer, TokenVerifier, TrustedIssuer, VerifyingKey};
use wharf_registry::auth::users::ConfigUsers;
use wharf_registry::auth::{AccessControl, Action, Actions, Challenge};

/// How callers sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Open: no access control (the default, meant for loopback).
    #[default]
    None,
    /// User name and password with every request.
    Basic,
    /// Bearer tokens from wharf's token endpoint or an external token server.
    Token,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<AuthMode, String> {
        match s {
            "none" => Ok(AuthMode::None),
            "basic" => Ok(AuthMode::Basic),
            "token" => Ok(AuthMode::Token),
            other => Err(format!("auth mode must be none, basic or token, not {other:?}")),
        }
    }
}

/// The `[auth]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub mode: AuthMode,
    /// Basic: the realm's name. Token: the token endpoint's public URL (default
    /// `http://<listen>/token`).
    pub realm: Option<String>,
    /// An htpasswd file with bcrypt entries (`htpasswd -B`).
    pub htpasswd: Option<PathBuf>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Repository globs anyone may pull without signing in.
    #[serde(default)]
    pub anonymous_pull: Vec<String>,
    /// Failed logins from one address before it gets 429 (0: no limit).
    pub max_failed_logins: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub failed_login_window: Option<Duration>,
    /// Count failed logins in the PostgreSQL metadata database, one limit for every
    /// replica, instead of in each process [default: false].
    pub login_limit_shared: Option<bool>,
    pub token: Option<TokenConfig>,
}

impl AuthConfig {
    /// The failed-login limit: at most this many failures per address within this
    /// window; `None` when there is none (`max_failed_logins = 0`, or no access control).
    pub fn login_limit(&self) -> Option<(u32, Duration)> {
        match (self.mode, self.max_failed_logins) {
            (AuthMode::None, _) | (_, Some(0)) => None,
            (_, max) => Some((
                max.unwrap_or(10),
                self.failed_login_window.unwrap_or(Duration::from_secs(60)),
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// A bcrypt hash, e.g. from `htpasswd -nbB NAME PASSWORD`.
    pub password_hash: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `anonymous`, `authenticated`, `user:NAME`, `group:NAME`.
    pub who: Vec<String>,
    /// Globs; `*` matches across `/`.
    pub repositories: Vec<String>,
    /// `pull`, `push`, `delete`.
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// `iss` of the tokens wharf issues [default: wharf].
    pub issuer: Option<String>,
    /// `aud` of the tokens, and the challenge's `service` [default: wharf].
    pub service: Option<String>,
    /// PEM private key (P-256 or RSA) [default: <data_dir>/token-key.pem, generated].
    pub key: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    pub expiry: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub refresh_expiry: Option<Duration>,
    /// Trust this token server instead of issuing tokens.
    pub external: Option<ExternalIssuerConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuerConfig {
    pub issuer: String,
    pub service: String,
    /// PEM public key or certificate of the issuer (P-256 → ES256, RSA → RS256).
    pub public_key: PathBuf,
}

fn rules(config: &AuthConfig) -> Result<RuleAuthorizer, String> {
    let mut rules = Vec::new();
    for (i, r) in config.rules.iter().enumerate() {
        let who = r.who.iter().map(|w| Who::parse(w)).collect::<Result<Vec<_>, _>>()?;
        let mut actions = Actions::NONE;
        for a in &r.actions {
            let action = Action::parse(a).ok_or_else(|| format!("auth rule {}: unknown action {a:?}", i + 1))?;
            actions = actions.with(action);
        }
        rules.push(Rule::new(who, &r.repositories, actions).map_err(|e| format!("auth rule {}: {e}", i + 1))?);
    }
    if !config.anonymous_pull.is_empty() {
        rules.push(Rule::new(
            vec![Who::Anonymous],
            &config.anonymous_pull,
            Actions::of([Action::Pull]),
        )?);
    }
    Ok(RuleAuthorizer::new(rules))
}

/// The access control `config` asks for; `None` for an open registry.
///
/// The server is reached over `scheme` (`http` or `https`), which the default token
/// realm's URL uses.
pub fn access_control_over(
    config: &AuthConfig,
    listen: SocketAddr,
    scheme: &str,
    data_dir: &Path,
) -> Result<Option<AccessControl>, String> {
    let challenge = match config.mode {
        AuthMode::None => return Ok(None),
        AuthMode::Basic => Challenge::Basic {
            realm: config.realm.clone().unwrap_or_else(|| "wharf".into()),
        },
        AuthMode::Token => {
            let token = config.token.clone().unwrap_or_default();
            let service = match &token.external {
                Some(ext) => ext.service.clone(),
                None => token.service.clone().unwrap_or_else(|| "wharf".into()),
            };
            let realm = match (&config.realm, &token.external) {
                (Some(realm), _) => realm.clone(),
                (None, Some(_)) => return Err("auth.realm must name the external token server's URL".into()),
                (None, None) => default_realm(listen, scheme),
            };
            Challenge::Bearer { realm, service }
        }
    };
    let mut control = AccessControl::new(challenge, Arc::new(rules(config)?));
    let mut passwords: Vec<PasswordEntry> = Vec::new();
    for u in &config.users {
        passwords.push(PasswordEntry {
            username: u.name.clone(),
            hash: u.password_hash.clone(),
            groups: u.groups.clone(),
        });
    }
    // One authenticator over both sources, so the first that knows a user decides (two
    // authenticators would stop at the first: the file's "no such user" would refuse
    // every user of the config).
    let mut sources: Vec<Arc<dyn PasswordSource>> = Vec::new();
    if let Some(path) = &config.htpasswd {
        sources.push(Arc::new(HtpasswdFile::open(path)?));
    }
    if !passwords.is_empty() {
        sources.push(Arc::new(ConfigUsers::new(passwords)?));
    }
    if !sources.is_empty() {
        control = control.with_authenticator(Arc::new(PasswordAuthenticator::new(sources)));
    }
    if config.mode == AuthMode::Token {
        let token = config.token.clone().unwrap_or_default();
        match &token.external {
            Some(ext) => {
                let pem = std::fs::read_to_string(&ext.public_key)
                    .map_err(|e| format!("cannot read {}: {e}", ext.public_key.display()))?;
                let key = VerifyingKey::from_pem(&pem).map_err(|e| format!("{}: {e}", ext.public_key.display()))?;
                let trusted = TrustedIssuer {
                    issuer: ext.issuer.clone(),
                    audience: ext.service.clone(),
                    key,
                };
                control = control.with_authenticator(Arc::new(TokenVerifier::new(vec![trusted])));
            }
            None => {
                let key_path = token.key.clone().unwrap_or_else(|| data_dir.join("token-key.pem"));
                let key = SigningKey::load_or_generate(&key_path)?;
                let issuer = TokenIssuer::new(
                    token.issuer.clone().unwrap_or_else(|| "wharf".into()),
                    token.service.clone().unwrap_or_else(|| "wharf".into()),
                    key,
                )
                .with_expiry(
                    token.expiry.unwrap_or(wharf_registry::auth::token::DEFAULT_EXPIRY),
                    token
                        .refresh_expiry
                        .unwrap_or(wharf_registry::auth::token::DEFAULT_REFRESH_EXPIRY),
                );
                control = control.with_token_issuer(issuer);
            }
        }
    }
    // Counted in this process; `wharf serve` replaces it with the shared count when
    // `login_limit_shared` asks for it (see `crate::login_limits`).
    let throttle = config
        .login_limit()
        .map(|(max, window)| LoginThrottle::new(max, window));
    Ok(Some(control.with_throttle(throttle)))
}

/// `http://<listen>/token`; an unspecified address (0.0.0.0) is no URL a client can
/// use, so the operator is told to set `auth.realm`.
fn default_realm(listen: SocketAddr, scheme: &str) -> String {
    if listen.ip().is_unspecified() {
        tracing::warn!("auth.realm is not set; clients elsewhere need it to be this server's public URL + /token");
        return format!("{scheme}://127.0.0.1:{}/token", listen.port());
    }
    format!("{scheme}://{listen}/token")
}

/// Adds sign-in by verified TLS client certificate to `control`: the certificate's
/// subject is a user of that name, with the groups `[[auth.users]]` gives that name.
pub fn with_client_certificates(control: AccessControl, config: &AuthConfig) -> AccessControl {
    let groups = config
        .users
        .iter()
        .map(|u| (u.name.clone(), u.groups.clone()))
        .collect();
    control.with_authenticator(Arc::new(
        wharf_registry::auth::client_cert::ClientCertificateAuthenticator::new(groups),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_complete_auth_section() {
        let text = r#"
            mode = "basic"
            realm = "registry"
            anonymous_pull = ["public/*"]
            max_failed_logins = 5
            failed_login_window = "2m"
            [[users]]
            name = "alice"
            password_hash = "$2y$05$6L6b7o9j2WjYV8vGQ0T7QeqPq0QG7aQy7m3xkqg3dC4iQ0c5zJ7aW"
            groups = ["team-a"]
            [[rules]]
            who = ["group:team-a"]
            repositories = ["team-a/*"]
            actions = ["pull", "push"]
            [token]
            issuer = "me"
            expiry = "10m"
        "#;
        let config: AuthConfig = toml::from_str(text).unwrap();
        assert_eq!(config.mode, AuthMode::Basic);
        let dir = tempfile::tempdir().unwrap();
        let control = access_control_over(&config, "127.0.0.1:5000".parse().unwrap(), "http", dir.path()).unwrap();
        assert!(control.is_some());

        let bad: AuthConfig = toml::from_str(
            "mode = \"basic\"\n[[rules]]\nwho = [\"nobody\"]\nrepositories = [\"*\"]\nactions = [\"pull\"]",
        )
        .unwrap();
        assert!(access_control_over(&bad, "127.0.0.1:5000".parse().unwrap(), "http", dir.path()).is_err());
        let open = AuthConfig::default();
        assert!(
            access_control_over(&open, "127.0.0.1:5000".parse().unwrap(), "http", dir.path())
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn users_of_the_htpasswd_file_and_of_the_config_both_sign_in() {
        use wharf_registry::auth::{Credentials, Identity};
        let dir = tempfile::tempdir().unwrap();
        let hash = |pw: &str| bcrypt::hash(pw, 4).unwrap().replacen("$2b$", "$2y$", 1);
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("carol:{}\n", hash("carol-pw"))).unwrap();
        let config: AuthConfig = toml::from_str(&format!(
            "mode = \"basic\"\nhtpasswd = {htpasswd:?}\n[[users]]\nname = \"alice\"\npassword_hash = \"{}\"\ngroups = [\"team-a\"]\n",
            hash("alice-pw")
        ))
        .unwrap();
        let control = access_control_over(&config, "127.0.0.1:5000".parse().unwrap(), "http", dir.path())
            .unwrap()
            .unwrap();
        let basic = |u: &str, p: &str| Credentials::Basic {
            username: u.into(),
            password: p.into(),
        };
        assert_eq!(
            control.authenticate(&basic("carol", "carol-pw")).await.unwrap(),
            Identity::user("carol", vec![])
        );
        assert_eq!(
            control.authenticate(&basic("alice", "alice-pw")).await.unwrap(),
            Identity::user("alice", vec!["team-a".into()])
        );
        assert!(control.authenticate(&basic("alice", "carol-pw")).await.is_err());
        assert_eq!(control.account("alice").await.unwrap().unwrap().groups, ["team-a"]);
    }
}
