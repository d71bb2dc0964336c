//! wharf's own token issuer: access tokens carrying the granted subset of the requested
//! access, and refresh tokens for OAuth2 clients that ask for offline access.

use super::verifier::TrustedIssuer;
use super::{Audience, ClaimedAccess, Claims, SigningKey};
use crate::auth::{Access, Account, AuthError, Identity};
use jsonwebtoken::{encode, Header};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an access token is valid by default (what Docker's token servers use).
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(300);
/// How long a refresh token is valid by default.
pub const DEFAULT_REFRESH_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the `credential` fingerprint of a refresh token is for (the key's other uses,
/// if any come, get other purposes, so one fingerprint never stands for another).
const CREDENTIAL_PURPOSE: &str = "wharf refresh token: the user's credential";

/// What a valid refresh token says: whom it was issued to and a fingerprint of their
/// credential then. Whether it is still honoured depends on the user now
/// ([`TokenIssuer::still_matches`]).
#[derive(Debug, Clone)]
pub struct RefreshClaims {
    pub user: String,
    credential: Option<String>,
}

/// Signs tokens for one service.
pub struct TokenIssuer {
    pub issuer: String,
    pub service: String,
    key: SigningKey,
    pub expiry: Duration,
    pub refresh_expiry: Duration,
}

/// A signed access token and when it was made.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
    /// RFC 3339, as the token response's `issued_at`.
    pub issued_at: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenIssuer {
    pub fn new(issuer: impl Into<String>, service: impl Into<String>, key: SigningKey) -> TokenIssuer {
        TokenIssuer {
            issuer: issuer.into(),
            service: service.into(),
            key,
            expiry: DEFAULT_EXPIRY,
            refresh_expiry: DEFAULT_REFRESH_EXPIRY,
        }
    }

    pub fn with_expiry(mut self, expiry: Duration, refresh_expiry: Duration) -> TokenIssuer {
        self.expiry = expiry;
        self.refresh_expiry = refresh_expiry;
        self
    }

    /// Refresh tokens carry another audience, so one can never pass as an access token.
    fn refresh_audience(&self) -> String {
        format!("{}#refresh", self.service)
    }

    fn sign(
        &self,
        person: &Identity,
        audience: String,
        lifetime: Duration,
        access: &[Access],
        credential: Option<String>,
    ) -> Result<String, AuthError> {
        let now = now_secs();
        let (sub, groups) = match person.person() {
            Identity::User { name, groups } => (name, groups),
            _ => (String::new(), Vec::new()),
        };
        let claims = Claims {
            iss: self.issuer.clone(),
            sub,
            aud: Audience::One(audience),
            exp: now + lifetime.as_secs(),
            nbf: Some(now),
            iat: Some(now),
            jti: Some(uuid::Uuid::new_v4().to_string()),
            access: access.iter().map(ClaimedAccess::from).collect(),
            groups,
            credential,
        };
        encode(&Header::new(self.key.algorithm), &claims, &self.key.encoding)
            .map_err(|e| AuthError::Unavailable(format!("signing a token failed: {e}")))
    }

    /// An access token for `person` granting exactly `access`.
    pub fn issue(&self, person: &Identity, access: &[Access]) -> Result<IssuedToken, AuthError> {
        let token = self.sign(person, self.service.clone(), self.expiry, access, None)?;
        Ok(IssuedToken {
            token,
            expires_in: self.expiry.as_secs(),
            issued_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        })
    }

    fn credential_fingerprint(&self, account: &Account) -> Result<String, AuthError> {
        self.key
            .fingerprint(CREDENTIAL_PURPOSE, account.credential.as_bytes())
            .map_err(|e| AuthError::Unavailable(format!("fingerprinting a credential failed: {e}")))
    }

    /// A refresh token for a signed-in user, bound to their credential as `account`
    /// holds it now; it grants nothing by itself.
    pub fn refresh_token(&self, person: &Identity, account: &Account) -> Result<String, AuthError> {
        let credential = self.credential_fingerprint(account)?;
        self.sign(
            person,
            self.refresh_audience(),
            self.refresh_expiry,
            &[],
            Some(credential),
        )
    }

    /// Whom a refresh token was issued to, if this issuer signed it and it has not
    /// expired.
    pub fn check_refresh(&self, token: &str) -> Result<RefreshClaims, AuthError> {
        let trusted = TrustedIssuer {
            audience: self.refresh_audience(),
            ..self.trusted()
        };
        let claims = trusted.verify(token)?;
        if claims.sub.is_empty() {
            return Err(AuthError::BadToken("the refresh token names no user".into()));
        }
        Ok(RefreshClaims {
            user: claims.sub,
            credential: claims.credential,
        })
    }

    /// Whether a refresh token is still good for `account`, its user as known now: the
    /// credential it was issued for is the current one. A token without the fingerprint
    /// (from a wharf before refresh tokens were bound to the password) is not.
    pub fn still_matches(&self, claims: &RefreshClaims, account: &Account) -> Result<bool, AuthError> {
        use subtle::ConstantTimeEq;
        let Some(issued_for) = &claims.credential else {
            return Ok(false);
        };
        let now = self.credential_fingerprint(account)?;
        Ok(now.as_bytes().ct_eq(issued_for.as_bytes()).into())
    }

    /// How a [`TokenVerifier`](super::TokenVerifier) recognises this issuer's access
    /// tokens.
    pub fn trusted(&self) -> TrustedIssuer {
        TrustedIssuer {
            issuer: self.issuer.clone(),
            audience: self.service.clone(),
            key: self.key.verifying_key(),
        }
    }
}
