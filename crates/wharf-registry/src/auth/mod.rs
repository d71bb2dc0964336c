//! Access control, apart from HTTP: who a caller is ([`Authenticator`]) and what they may
//! do to a repository ([`Authorizer`]). The built-ins are implementations of these two
//! traits; an application that embeds wharf can plug in its own users and sessions.
//!
//! - [`password`]: Basic credentials checked against bcrypt hashes from an
//!   [`htpasswd`] file and from [`users`] listed in the config.
//! - [`token`]: bearer tokens (JWTs) as the Docker token protocol defines them, issued
//!   by wharf itself or by an external token server it trusts.
//! - [`rules`]: grants of pull/push/delete on repository globs to users, groups and
//!   anonymous callers.
//! - [`client_cert`]: the subject of a verified TLS client certificate as a user.
//! - [`login_limits`]: failed logins per client address, answered 429 when too many;
//!   [`throttle`] counts them in this process.
//! - [`AccessControl`]: the whole policy the HTTP layer applies.

mod access;
pub mod client_cert;
mod control;
pub mod htpasswd;
pub mod login_limits;
pub mod password;
pub mod rules;
pub mod throttle;
pub mod token;
pub mod users;
mod verified;

pub use access::{Access, Action, Actions, Resource};
pub use control::{AccessControl, Challenge};

use async_trait::async_trait;
use std::fmt;
use wharf_oci::RepositoryName;

/// Who a caller is, once their credentials were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credentials were presented.
    Anonymous,
    /// A signed-in user, with the groups rules may name.
    User { name: String, groups: Vec<String> },
    /// The holder of a bearer token: what it may do to repositories is what the token
    /// grants, nothing more. `subject` is the token's `sub` (`None` for a token issued
    /// to an anonymous caller); with `groups` it is what the catalog is filtered by.
    Token {
        subject: Option<String>,
        groups: Vec<String>,
        access: Vec<Access>,
    },
}

impl Identity {
    pub fn user(name: impl Into<String>, groups: Vec<String>) -> Identity {
        Identity::User {
            name: name.into(),
            groups,
        }
    }

    /// The person behind the identity, as rules know them: a token's subject becomes
    /// the user it names.
    pub fn person(&self) -> Identity {
        match self {
            Identity::Token {
                subject: Some(name),
                groups,
                ..
            } => Identity::user(name.clone(), groups.clone()),
            Identity::Token { subject: None, .. } => Identity::Anonymous,
            other => other.clone(),
        }
    }

    /// The user name, if any: for logs and the token's `sub`.
    pub fn name(&self) -> Option<&str> {
        match self {
            Identity::Anonymous => None,
            Identity::User { name, .. } => Some(name),
            Identity::Token { subject, .. } => subject.as_deref(),
        }
    }
}

/// What a caller presented, from the `Authorization` header or a token request.
/// `Debug` never prints a password or a token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
    /// No `Authorization` header, on a connection whose TLS client certificate the
    /// server verified (see [`client_cert`]): its subject.
    ClientCertificate {
        subject: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::ClientCertificate { subject } => write!(f, "ClientCertificate({subject})"),
        }
    }
}

/// Why credentials were not accepted. Messages are safe to send to the caller: none
/// tells whether a user exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A wrong user name or password (the two are never told apart). Counts as a
    /// failed login for throttling.
    #[error("invalid username or password")]
    BadPassword,
    /// A bearer token that is forged, expired, not yet valid or meant for another
    /// service or issuer.
    #[error("invalid token: {0}")]
    BadToken(String),
    /// Credentials of a kind nothing here accepts.
    #[error("{0}")]
    Unsupported(String),
    /// The check itself failed (e.g. a password file could not be read).
    #[error("credentials could not be checked: {0}")]
    Unavailable(String),
}

/// A user as the authenticator that signs them in knows them now: what the OAuth2
/// refresh grant, which issues tokens without a password, checks a refresh token
/// against.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub groups: Vec<String>,
    /// Changes whenever the user's credential does: for a password, its hash. It never
    /// leaves the process: a refresh token carries only a keyed fingerprint of it.
    pub credential: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Account {{ groups: {:?}, credential: <redacted> }}", self.groups)
    }
}

/// Turns credentials into an [`Identity`].
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `Ok(None)` when these credentials are of a kind this authenticator does not
    /// handle (the next one is asked); `Ok(Some(_))` or `Err(_)` decides.
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError>;

    /// The user `name` as this authenticator knows them now, or `Ok(None)` if it does not
    /// know them (the next one is asked). The token endpoint issues a refresh token only
    /// to a user some authenticator knows here, and honours it only while that user is
    /// still known with the same [`Account::credential`], taking their groups from here.
    /// The default knows nobody, so an authenticator that does not implement it gets no
    /// refresh tokens for its users (they sign in again instead).
    async fn account(&self, name: &str) -> Result<Option<Account>, AuthError> {
        let _ = name;
        Ok(None)
    }
}

/// Says what an identity may do to a repository.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// The actions `identity` may take on `repository`. Never called with an
    /// [`Identity::Token`] for repository access: a token's own grants decide that.
    async fn granted(&self, identity: &Identity, repository: &RepositoryName) -> Actions;
}
