//! The token exchange of the Docker token protocol: `GET realm?service=…&scope=…`
//! (with Basic credentials when the user has them, anonymously otherwise), or, for an
//! identity token, the OAuth2 refresh-token grant: `POST realm` with
//! `grant_type=refresh_token&refresh_token=…&service=…&scope=…&client_id=wharf`.

use super::{Credential, Scopes};
use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// How long a token without `expires_in` lives, per the token protocol.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// A token this close to expiry is renewed rather than sent.
const RENEW_MARGIN: Duration = Duration::from_secs(10);

/// A bearer token and when it stops being valid.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: String,
    expires: Instant,
}

impl Token {
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        now + RENEW_MARGIN < self.expires
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scopes: &Scopes,
    credential: Option<&Credential>,
) -> Result<Token> {
    let auth_error = |message: String| Error::Auth {
        registry: registry.to_string(),
        message,
    };
    let mut url = url::Url::parse(realm).map_err(|e| auth_error(format!("token realm {realm:?} is not a URL: {e}")))?;
    let request = match credential.filter(|c| c.is_identity_token()) {
        Some(identity) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", &identity.password)
                .append_pair("client_id", "wharf");
            if let Some(s) = service {
                form.append_pair("service", s);
            }
            if !scopes.as_slice().is_empty() {
                form.append_pair("scope", &scopes.as_slice().join(" "));
            }
            http.post(url.clone())
                .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.finish())
        }
        None => basic_token_request(http, &mut url, service, scopes, credential),
    };
    let started = Instant::now();
    // An unreachable token service is a network failure, not a refusal.
    let response = request.send().await.map_err(|e| Error::Transport {
        method: "GET".into(),
        url: realm.to_string(),
        message: format!("cannot reach the token service: {e}"),
    })?;
    let status = response.status();
    if status == 401 || status == 403 {
        return Err(auth_error(match credential {
            Some(c) if c.is_identity_token() => "the token service refused the identity token".into(),
            Some(_) => "the token service refused the user name and password".into(),
            None => "the registry needs credentials (use `wharf login` or --username/--password)".into(),
        }));
    }
    if !status.is_success() {
        return Err(auth_error(format!("the token service {realm} answered {status}")));
    }
    let body: TokenResponse = response
        .json()
        .await
        .map_err(|e| auth_error(format!("the token service sent no valid token: {e}")))?;
    let value = body
        .token
        .or(body.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| auth_error("the token service's answer holds no token".into()))?;
    let lifetime = body.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME);
    Ok(Token {
        value,
        expires: started + lifetime,
    })
}

/// `GET realm?service=…&scope=…`, with Basic credentials when there are any.
fn basic_token_request(
    http: &reqwest::Client,
    url: &mut url::Url,
    service: Option<&str>,
    scopes: &Scopes,
    credential: Option<&Credential>,
) -> reqwest::RequestBuilder {
    {
        let mut query = url.query_pairs_mut();
        if let Some(s) = service {
            query.append_pair("service", s);
        }
        for scope in scopes.as_slice() {
            query.append_pair("scope", scope);
        }
    }
    let mut request = http.get(url.clone());
    if let Some(c) = credential {
        request = request.header(http::header::AUTHORIZATION, c.basic_header());
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let now = Instant::now();
        let t = Token {
            value: "x".into(),
            expires: now + Duration::from_secs(60),
        };
        assert!(t.is_fresh(now));
        assert!(!t.is_fresh(now + Duration::from_secs(55)));
    }
}
