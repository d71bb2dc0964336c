//! wharf's token endpoint, as the Docker token protocol defines it:
//! `GET /token?service=…&scope=…` with Basic credentials or none (anonymous), and the
//! OAuth2 form `POST /token` (`grant_type=password` or `refresh_token`). The token
//! grants the subset of the requested scopes the caller may have: asking for more is
//! never an error, so the answer tells nothing about what exists.

use super::authorize::{client_address, sign_in, SignInError};
use super::challenge::unauthorized;
use super::credentials::presented;
use super::query::Query;
use crate::auth::token::TokenIssuer;
use crate::auth::{Access, AccessControl, AuthError, Challenge, Credentials, Identity};
use crate::registry::RegistryError;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use wharf_oci::ErrorCode;

/// Largest `POST /token` form read.
const MAX_FORM: usize = 64 * 1024;

/// `GET` and `POST /token`.
pub(crate) fn routes(control: Arc<AccessControl>) -> Router {
    Router::new()
        .route("/token", get(get_token).post(post_token))
        .with_state(control)
}

/// The token endpoint's own challenge: it takes a user name and password.
fn basic_challenge() -> Challenge {
    Challenge::Basic {
        realm: "wharf token service".into(),
    }
}

fn bad_request(message: &str) -> Response {
    RegistryError::new(ErrorCode::Unsupported, message)
        .with_status(400)
        .into_response()
}

fn refused(error: SignInError) -> Response {
    match error {
        SignInError::Refused(e) => unauthorized(&basic_challenge(), e.to_string(), &[], None),
        SignInError::Limited(limited) => limited.response(),
    }
}

/// Errors are boxed: a `Response` is large and these are the rare paths.
fn issuer(control: &AccessControl) -> Result<&TokenIssuer, Box<Response>> {
    control
        .token_issuer()
        .ok_or_else(|| Box::new(bad_request("this registry issues no tokens")))
}

/// A `service` other than the registry's is refused: its tokens would not be accepted.
fn check_service(issuer: &TokenIssuer, service: Option<&str>) -> Result<(), Box<Response>> {
    match service {
        Some(s) if s != issuer.service => Err(Box::new(bad_request("unknown service"))),
        _ => Ok(()),
    }
}

async fn get_token(State(control): State<Arc<AccessControl>>, request: Request) -> Response {
    let issuer = match issuer(&control) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let query = Query::parse(request.uri().query());
    if let Err(r) = check_service(issuer, query.get("service")) {
        return *r;
    }
    let presented = match presented(&request) {
        Ok(c @ (Credentials::None | Credentials::Basic { .. } | Credentials::ClientCertificate { .. })) => c,
        Ok(Credentials::Bearer(_)) => {
            return unauthorized(&basic_challenge(), "sign in with Basic credentials", &[], None)
        }
        Err(e) => return unauthorized(&basic_challenge(), e.message(), &[], None),
    };
    let person = match sign_in(&control, &presented, client_address(&request)).await {
        Ok(identity) => identity.person(),
        Err(e) => return refused(e),
    };
    let scopes = Access::parse_scopes(query.all("scope"));
    let offline = query.get("offline_token") == Some("true");
    answer(&control, issuer, &person, &scopes, offline, false).await
}

async fn post_token(State(control): State<Arc<AccessControl>>, request: Request) -> Response {
    let issuer = match issuer(&control) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let client = client_address(&request);
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_FORM).await else {
        return bad_request("the form is larger than 64 KiB or could not be read");
    };
    let form = Query::parse(std::str::from_utf8(&body).ok());
    if let Err(r) = check_service(issuer, form.get("service")) {
        return *r;
    }
    let person = match form.get("grant_type") {
        Some("password") => {
            let presented = Credentials::Basic {
                username: form.get("username").unwrap_or("").to_string(),
                password: form.get("password").unwrap_or("").to_string(),
            };
            match sign_in(&control, &presented, client).await {
                Ok(identity) => identity.person(),
                Err(e) => return refused(e),
            }
        }
        Some("refresh_token") => match control.refreshed(form.get("refresh_token").unwrap_or("")).await {
            Ok(identity) => identity,
            Err(AuthError::Unavailable(why)) => {
                return RegistryError::internal("checking a refresh token's user", why).into_response()
            }
            Err(e) => return unauthorized(&basic_challenge(), e.to_string(), &[], None),
        },
        _ => return bad_request("grant_type must be password or refresh_token"),
    };
    let scopes = Access::parse_scopes(form.all("scope"));
    let offline = form.get("access_type") == Some("offline");
    answer(&control, issuer, &person, &scopes, offline, true).await
}

/// The token response: `token` and `access_token` (the same JWT; Docker clients read
/// the first, OAuth2 clients the second), `expires_in`, `issued_at`, and a
/// `refresh_token` for a signed-in user who asked for offline access.
async fn answer(
    control: &AccessControl,
    issuer: &TokenIssuer,
    person: &Identity,
    requested: &[Access],
    offline: bool,
    oauth: bool,
) -> Response {
    let granted = control.grant(person, requested).await;
    let issued = match issuer.issue(person, &granted) {
        Ok(t) => t,
        Err(e) => return RegistryError::internal("issuing a token", e).into_response(),
    };
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    });
    if oauth {
        let scope: Vec<String> = granted.iter().map(Access::to_string).collect();
        body["scope"] = Value::String(scope.join(" "));
    }
    if let (true, Identity::User { name, .. }) = (offline, person) {
        // Only for a user an authenticator can look up again when the token is used.
        let account = match control.account(name).await {
            Ok(account) => account,
            Err(e) => return RegistryError::internal("looking up a user for a refresh token", e).into_response(),
        };
        if let Some(account) = account {
            match issuer.refresh_token(person, &account) {
                Ok(refresh) => body["refresh_token"] = Value::String(refresh),
                Err(e) => return RegistryError::internal("issuing a refresh token", e).into_response(),
            }
        }
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
