//! Checks bearer tokens: signature with the issuer's key and only its algorithm (so
//! `alg: none` and algorithm swaps fail), issuer, audience (the registry's service
//! name), expiry and not-before.

use super::{Claims, VerifyingKey};
use crate::auth::{AuthError, Authenticator, Credentials, Identity};
use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;

/// Allowed clock difference between the issuer and wharf, in seconds.
const LEEWAY_SECS: u64 = 30;

/// A token server whose tokens wharf accepts: wharf's own, or an external one.
#[derive(Clone)]
pub struct TrustedIssuer {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` its tokens for this registry carry (the `service` of the challenge).
    pub audience: String,
    pub key: VerifyingKey,
}

impl TrustedIssuer {
    fn validation(&self) -> Validation {
        let mut v = Validation::new(self.key.algorithm);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        v
    }

    /// The claims of `token` if this issuer signed it for this audience and it is valid
    /// now.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.key.decoding, &self.validation())
            .map(|data| data.claims)
            .map_err(|e| AuthError::BadToken(reason(e.kind()).into()))
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token is from an issuer this registry does not trust",
        ErrorKind::InvalidAudience => "the token is meant for another service",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token is signed with an algorithm this registry does not accept"
        }
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is malformed",
    }
}

/// The [`Authenticator`] of bearer tokens from any of the trusted issuers.
pub struct TokenVerifier {
    trusted: Vec<TrustedIssuer>,
}

impl TokenVerifier {
    pub fn new(trusted: Vec<TrustedIssuer>) -> TokenVerifier {
        TokenVerifier { trusted }
    }

    /// The claims of a valid token. The unverified `iss` only picks which keys to try
    /// (an issuer may have several, during key rotation); every claim is then checked.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::BadToken(reason(e.kind()).into()))?;
        let claimed_issuer = jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
            .ok()
            .and_then(|c| c.get("iss").and_then(|i| i.as_str()).map(str::to_string));
        let candidates: Vec<&TrustedIssuer> = self
            .trusted
            .iter()
            .filter(|t| Some(&t.issuer) == claimed_issuer.as_ref())
            .collect();
        if candidates.is_empty() {
            return Err(AuthError::BadToken(reason(&ErrorKind::InvalidIssuer).into()));
        }
        let mut last = AuthError::BadToken(reason(&ErrorKind::InvalidAlgorithm).into());
        for trusted in candidates.into_iter().filter(|t| t.key.algorithm == header.alg) {
            match trusted.verify(token) {
                Ok(claims) => return Ok(claims),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// The identity a token's claims describe.
pub fn identity_of(claims: Claims) -> Identity {
    Identity::Token {
        subject: Some(claims.sub).filter(|s| !s.is_empty()),
        groups: claims.groups,
        access: claims.access.iter().filter_map(|a| a.to_access()).collect(),
    }
}

#[async_trait]
impl Authenticator for TokenVerifier {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        match credentials {
            Credentials::Bearer(token) => self.verify(token).map(|c| Some(identity_of(c))),
            _ => Ok(None),
        }
    }
}
