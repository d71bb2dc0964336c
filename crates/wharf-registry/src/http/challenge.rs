//! The answers of access control: 401 UNAUTHORIZED with a `WWW-Authenticate` challenge,
//! 403 DENIED, 429 TOOMANYREQUESTS with `Retry-After`, each with the spec's JSON body;
//! and 503 when the failed-login limit cannot be consulted.

use super::headers::value;
use crate::auth::{Access, Challenge};
use crate::registry::RegistryError;
use axum::response::{IntoResponse, Response};
use http::header;
use std::time::Duration;
use wharf_oci::ErrorCode;

/// RFC 6750's `error` parameter of a bearer challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// The token was refused: get a new one.
    InvalidToken,
    /// The token is valid but does not grant what the request needs.
    InsufficientScope,
}

/// A quoted-string of a challenge parameter.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `WWW-Authenticate` value: `scopes` name what a token must grant.
pub fn www_authenticate(challenge: &Challenge, scopes: &[Access], error: Option<BearerError>) -> String {
    match challenge {
        Challenge::Basic { realm } => format!("Basic realm={},charset=\"UTF-8\"", quoted(realm)),
        Challenge::Bearer { realm, service } => {
            let mut text = format!("Bearer realm={},service={}", quoted(realm), quoted(service));
            if !scopes.is_empty() {
                let scope: Vec<String> = scopes.iter().map(Access::to_string).collect();
                text.push_str(&format!(",scope={}", quoted(&scope.join(" "))));
            }
            match error {
                Some(BearerError::InvalidToken) => text.push_str(",error=\"invalid_token\""),
                Some(BearerError::InsufficientScope) => text.push_str(",error=\"insufficient_scope\""),
                None => {}
            }
            text
        }
    }
}

/// 401 UNAUTHORIZED with a challenge.
pub fn unauthorized(
    challenge: &Challenge,
    message: impl Into<String>,
    scopes: &[Access],
    error: Option<BearerError>,
) -> Response {
    let mut response = RegistryError::new(ErrorCode::Unauthorized, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        value(www_authenticate(challenge, scopes, error)),
    );
    response
}

/// 403 DENIED: signed in, but not allowed.
pub fn denied(access: &Access) -> Response {
    RegistryError::new(
        ErrorCode::Denied,
        format!("requested access to the resource is denied: {access} is not granted to you"),
    )
    .into_response()
}

/// 429 TOOMANYREQUESTS with `Retry-After` in whole seconds.
pub fn too_many(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs().max(1);
    let mut response = RegistryError::new(
        ErrorCode::TooManyRequests,
        format!("too many failed logins from your address; try again in {secs} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, value(secs.to_string()));
    response
}

/// 503 Service Unavailable: the failed-login limit (kept in a database the replicas
/// share) could not be consulted, so the credentials were not checked. The spec has no
/// code for it; `Retry-After` asks clients that honour it to come back shortly.
pub fn limit_unavailable() -> Response {
    let mut response = RegistryError {
        code: None,
        status: 503,
        message: "logins cannot be checked now (the registry cannot reach its database); \
                  try again shortly, tokens already issued still work"
            .to_string(),
        detail: None,
        upload: None,
    }
    .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, value("5"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_challenges() {
        let bearer = Challenge::Bearer {
            realm: "http://r/token".into(),
            service: "wharf".into(),
        };
        let scope = Access::parse_scope("repository:a/b:pull,push").unwrap();
        assert_eq!(
            www_authenticate(&bearer, &[scope], Some(BearerError::InsufficientScope)),
            "Bearer realm=\"http://r/token\",service=\"wharf\",scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\""
        );
        let basic = Challenge::Basic {
            realm: "my \"x\"".into(),
        };
        assert_eq!(
            www_authenticate(&basic, &[], None),
            "Basic realm=\"my \\\"x\\\"\",charset=\"UTF-8\""
        );
    }
}
