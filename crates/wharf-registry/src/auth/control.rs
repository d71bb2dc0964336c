//! The whole access policy the HTTP layer applies: how to challenge, who may sign in
//! (authenticators, asked in order), what they may do (one authorizer), the token issuer
//! behind `/token`, and the failed-login limit.

use super::login_limits::LoginLimits;
use super::throttle::LoginThrottle;
use super::token::{TokenIssuer, TokenVerifier};
use super::{Access, Account, Action, Actions, AuthError, Authenticator, Authorizer, Credentials, Identity, Resource};
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_oci::RepositoryName;

/// The `WWW-Authenticate` challenge a 401 carries, which tells clients how to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`: send a user name and password with every request.
    Basic { realm: String },
    /// `Bearer realm="…",service="…",scope="…"`: fetch a token from `realm` (the token
    /// endpoint's URL) for `service`, and send it.
    Bearer { realm: String, service: String },
}

/// Access control for [`router_with_access`](crate::http::router_with_access).
pub struct AccessControl {
    challenge: Challenge,
    authenticators: Vec<Arc<dyn Authenticator>>,
    authorizer: Arc<dyn Authorizer>,
    issuer: Option<Arc<TokenIssuer>>,
    login_limits: Option<Arc<dyn LoginLimits>>,
}

impl AccessControl {
    /// A policy with no authenticators yet, `authorizer` deciding, and the default login
    /// throttle (10 failures a minute per client address).
    pub fn new(challenge: Challenge, authorizer: Arc<dyn Authorizer>) -> AccessControl {
        AccessControl {
            challenge,
            authenticators: Vec::new(),
            authorizer,
            issuer: None,
            login_limits: Some(Arc::new(LoginThrottle::default())),
        }
    }

    /// Adds an authenticator, asked after those added before it.
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> AccessControl {
        self.authenticators.push(authenticator);
        self
    }

    /// Serves `GET`/`POST /token` with this issuer, and accepts the tokens it issues.
    pub fn with_token_issuer(mut self, issuer: TokenIssuer) -> AccessControl {
        let verifier = TokenVerifier::new(vec![issuer.trusted()]);
        self.authenticators.push(Arc::new(verifier));
        self.issuer = Some(Arc::new(issuer));
        self
    }

    /// Replaces the failed-login limit with one counted in this process; `None` turns
    /// the limit off.
    pub fn with_throttle(mut self, throttle: Option<LoginThrottle>) -> AccessControl {
        self.login_limits = throttle.map(|t| Arc::new(t) as Arc<dyn LoginLimits>);
        self
    }

    /// Replaces the failed-login limit with any adapter of [`LoginLimits`], e.g. one that
    /// replicas share (`meta::PostgresLoginLimits`); `None` turns the limit off.
    pub fn with_login_limits(mut self, limits: Option<Arc<dyn LoginLimits>>) -> AccessControl {
        self.login_limits = limits;
        self
    }

    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    pub fn token_issuer(&self) -> Option<&TokenIssuer> {
        self.issuer.as_deref()
    }

    /// The failed-login limit, if any.
    pub fn login_limits(&self) -> Option<&Arc<dyn LoginLimits>> {
        self.login_limits.as_ref()
    }

    /// Who presents `credentials`: no credentials are [`Identity::Anonymous`] unless an
    /// authenticator says otherwise; credentials nobody handles are refused.
    pub async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        for authenticator in &self.authenticators {
            if let Some(identity) = authenticator.authenticate(credentials).await? {
                return Ok(identity);
            }
        }
        match credentials {
            Credentials::None => Ok(Identity::Anonymous),
            Credentials::Basic { .. } => Err(AuthError::BadPassword),
            // Nothing here signs in by certificate: the caller is as anonymous as
            // without one (the TLS layer let the connection in).
            Credentials::ClientCertificate { .. } => Ok(Identity::Anonymous),
            Credentials::Bearer(_) => Err(AuthError::BadToken(
                "this registry does not accept bearer tokens".into(),
            )),
        }
    }

    /// The user `name` as the first authenticator that knows them has them now.
    pub async fn account(&self, name: &str) -> Result<Option<Account>, AuthError> {
        for authenticator in &self.authenticators {
            if let Some(account) = authenticator.account(name).await? {
                return Ok(Some(account));
            }
        }
        Ok(None)
    }

    /// The user a refresh token stands for, as they are now: honoured only while the
    /// user is still known and their credential (password) is the one the token was
    /// issued for; their groups are their current ones, not those of when it was issued.
    pub async fn refreshed(&self, refresh_token: &str) -> Result<Identity, AuthError> {
        let issuer = self
            .issuer
            .as_deref()
            .ok_or_else(|| AuthError::Unsupported("this registry issues no tokens".into()))?;
        let claims = issuer.check_refresh(refresh_token)?;
        let gone = || {
            AuthError::BadToken(
                "the refresh token no longer stands for its user (removed, or the password changed); sign in again"
                    .into(),
            )
        };
        let account = self.account(&claims.user).await?.ok_or_else(gone)?;
        if !issuer.still_matches(&claims, &account)? {
            return Err(gone());
        }
        Ok(Identity::user(claims.user, account.groups))
    }

    /// What `identity` may do to `repository`: a token's own grants, or the authorizer's
    /// answer for anyone else.
    pub async fn granted(&self, identity: &Identity, repository: &RepositoryName) -> Actions {
        match identity {
            Identity::Token { access, .. } => token_grants(access, repository),
            other => self.authorizer.granted(other, repository).await,
        }
    }

    /// Whether `/v2/_catalog` lists `repository` to `identity`: when it may pull it. A
    /// token lists what it grants pull on, and with `registry:catalog:*` also whatever
    /// its subject may pull by the authorizer's rules.
    pub async fn may_list(&self, identity: &Identity, repository: &RepositoryName) -> bool {
        if self.granted(identity, repository).await.contains(Action::Pull) {
            return true;
        }
        match identity {
            Identity::Token { access, .. } if access.iter().any(|a| a.resource == Resource::Catalog) => self
                .authorizer
                .granted(&identity.person(), repository)
                .await
                .contains(Action::Pull),
            _ => false,
        }
    }

    /// The part of `requested` that `person` may have, for a token: each repository's
    /// requested actions cut down to those granted, repositories with nothing left out,
    /// the catalog always (its listing is filtered anyway). Never an error, so asking
    /// tells nothing about what exists.
    pub async fn grant(&self, person: &Identity, requested: &[Access]) -> Vec<Access> {
        let mut repositories: BTreeMap<RepositoryName, Actions> = BTreeMap::new();
        let mut catalog = false;
        for access in requested {
            match &access.resource {
                Resource::Catalog => catalog = true,
                Resource::Repository(name) => {
                    let entry = repositories.entry(name.clone()).or_default();
                    *entry = entry.union(access.actions);
                }
            }
        }
        let mut granted = Vec::new();
        for (name, wanted) in repositories {
            let actions = wanted.intersection(self.authorizer.granted(person, &name).await);
            if !actions.is_empty() {
                granted.push(Access::repository(name, actions));
            }
        }
        if catalog {
            granted.push(Access::catalog());
        }
        granted
    }
}

fn token_grants(access: &[Access], repository: &RepositoryName) -> Actions {
    access
        .iter()
        .filter(|a| matches!(&a.resource, Resource::Repository(n) if n == repository))
        .fold(Actions::NONE, |set, a| set.union(a.actions))
}
