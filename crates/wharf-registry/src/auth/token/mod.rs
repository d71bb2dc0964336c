//! Bearer tokens as the Docker token protocol defines them: JWTs signed with ES256 (or
//! RS256), whose `access` claim lists what the holder may do.
//!
//! [`TokenIssuer`] makes them for wharf's own token endpoint; [`TokenVerifier`] checks
//! them, for wharf's own issuer and for external token servers it is told to trust.

mod issuer;
mod keys;
mod verifier;

pub use issuer::{IssuedToken, RefreshClaims, TokenIssuer, DEFAULT_EXPIRY, DEFAULT_REFRESH_EXPIRY};
pub use keys::{SigningKey, VerifyingKey};
pub use verifier::{TokenVerifier, TrustedIssuer};

use super::{Access, Actions, Resource};
use serde::{Deserialize, Serialize};

/// The claims of a token. `nbf`, `iat` and `jti` are optional when verifying, since an
/// external issuer may leave them out; wharf always sets them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default)]
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default)]
    pub access: Vec<ClaimedAccess>,
    /// wharf's own claim: the subject's groups, so the catalog can be filtered by the
    /// same rules as a Basic login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// wharf's own claim, in refresh tokens only: a keyed fingerprint of the user's
    /// credential (their password hash) when the token was issued, so a changed password
    /// ends the refresh tokens issued before. Never the hash itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `aud` is a string or a list of strings (RFC 7519, section 4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// One entry of the `access` claim: `{"type": "repository", "name": "app", "actions": ["pull"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedAccess {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub actions: Vec<String>,
}

impl From<&Access> for ClaimedAccess {
    fn from(access: &Access) -> ClaimedAccess {
        match &access.resource {
            Resource::Repository(name) => ClaimedAccess {
                kind: "repository".into(),
                name: name.to_string(),
                actions: access.actions.iter().map(|a| a.as_str().to_string()).collect(),
            },
            Resource::Catalog => ClaimedAccess {
                kind: "registry".into(),
                name: "catalog".into(),
                actions: vec!["*".into()],
            },
        }
    }
}

impl ClaimedAccess {
    /// The access this entry grants; `None` for entries wharf has no use for.
    pub fn to_access(&self) -> Option<Access> {
        let actions = Actions::parse(&self.actions.join(","));
        Access::parse_scope(&format!("{}:{}:{}", self.kind, self.name, actions)).filter(|_| !actions.is_empty())
    }
}
