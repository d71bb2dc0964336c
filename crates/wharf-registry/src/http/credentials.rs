//! The `Authorization` header as [`Credentials`]: `Basic` (RFC 7617) or `Bearer`
//! (RFC 6750), schemes matched without regard to case. Nothing here is ever logged.

use crate::auth::client_cert::VerifiedClientCertificate;
use crate::auth::Credentials;
use base64::Engine;
use http::{header, HeaderMap};

/// Why an `Authorization` header was refused. The messages quote nothing of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    Malformed(&'static str),
    UnknownScheme,
}

impl CredentialsError {
    pub fn message(&self) -> String {
        match self {
            CredentialsError::Malformed(why) => format!("malformed Authorization header: {why}"),
            CredentialsError::UnknownScheme => {
                "the Authorization header uses a scheme this registry does not accept (use Basic or Bearer)".into()
            }
        }
    }
}

/// What the request presents: its `Authorization` header's credentials, else the
/// subject of the client certificate its connection's TLS layer verified, else none.
pub fn presented(request: &axum::extract::Request) -> Result<Credentials, CredentialsError> {
    match credentials(request.headers())? {
        Credentials::None => {
            Ok(request
                .extensions()
                .get::<VerifiedClientCertificate>()
                .map_or(Credentials::None, |cert| Credentials::ClientCertificate {
                    subject: cert.subject.clone(),
                }))
        }
        presented => Ok(presented),
    }
}

pub fn credentials(headers: &HeaderMap) -> Result<Credentials, CredentialsError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Credentials::None);
    };
    if values.next().is_some() {
        return Err(CredentialsError::Malformed("more than one Authorization header"));
    }
    let text = value
        .to_str()
        .map_err(|_| CredentialsError::Malformed("not visible ASCII"))?
        .trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        basic(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return Err(CredentialsError::Malformed("a bearer token is one word"));
        }
        Ok(Credentials::Bearer(rest.to_string()))
    } else {
        Err(CredentialsError::UnknownScheme)
    }
}

/// `base64(user ":" password)`.
fn basic(encoded: &str) -> Result<Credentials, CredentialsError> {
    if encoded.is_empty() {
        return Err(CredentialsError::Malformed("Basic without credentials"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| CredentialsError::Malformed("Basic credentials are not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| CredentialsError::Malformed("Basic credentials are not UTF-8"))?;
    let (username, password) = text.split_once(':').ok_or(CredentialsError::Malformed(
        "Basic credentials lack the ':' between user and password",
    ))?;
    if username.is_empty() {
        return Err(CredentialsError::Malformed("Basic credentials without a user name"));
    }
    Ok(Credentials::Basic {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Credentials, CredentialsError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        credentials(&headers)
    }

    #[test]
    fn parses_basic_and_bearer() {
        assert_eq!(
            parse("Basic YWxpY2U6czNjcjN0OngK").unwrap(),
            Credentials::Basic {
                username: "alice".into(),
                password: "s3cr3t:x\n".into()
            }
        );
        assert_eq!(
            parse("bearer abc.def.ghi").unwrap(),
            Credentials::Bearer("abc.def.ghi".into())
        );
        assert_eq!(credentials(&HeaderMap::new()).unwrap(), Credentials::None);
    }

    #[test]
    fn refuses_malformed_headers() {
        for bad in [
            "Basic",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Basic OnBhc3M=",
            "Bearer",
            "Bearer a b",
        ] {
            assert!(matches!(parse(bad), Err(CredentialsError::Malformed(_))), "{bad}");
        }
        assert_eq!(parse("Digest x"), Err(CredentialsError::UnknownScheme));
        assert_eq!(parse("Negotiate"), Err(CredentialsError::UnknownScheme));
    }
}
