//! The access-control middleware of [`router_with_access`](super::router_with_access):
//! works out what the request needs from its parsed [`Endpoint`], signs the caller in,
//! checks the grant, and only then lets the request reach the registry, with the
//! caller's identity in the request's extensions (the catalog filters by it).

use super::access_log::{Parsed, Subject};
use super::challenge::{denied, limit_unavailable, too_many, unauthorized, BearerError};
use super::credentials::presented;
use super::required::{need, Need};
use crate::auth::login_limits::Refused;
use crate::auth::{Access, AccessControl, Action, Actions, AuthError, Credentials, Identity, Resource};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{Method, Uri};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use wharf_oci::{Endpoint, RepositoryName};

/// Who is calling, for handlers that answer differently per caller.
#[derive(Clone)]
pub(crate) struct Caller {
    pub identity: Identity,
    pub control: Arc<AccessControl>,
}

impl Caller {
    /// Whether the catalog lists `name` to this caller.
    pub async fn may_list(&self, name: &RepositoryName) -> bool {
        self.control.may_list(&self.identity, name).await
    }
}

/// The client's address, when the server was started with connect info
/// (`into_make_service_with_connect_info::<SocketAddr>()`); the failed-login limit
/// counts per address.
pub(crate) fn client_address(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Why signing in failed.
pub(crate) enum SignInError {
    /// Refused by the failed-login limit before the credentials were looked at.
    Limited(Limited),
    Refused(AuthError),
}

/// A refusal by the failed-login limit.
pub(crate) enum Limited {
    /// Too many failures from the address: 429 with `Retry-After`.
    TooMany(Duration),
    /// The limit could not be consulted: 503, rather than a login let through unlimited.
    Unavailable,
}

impl Limited {
    pub(crate) fn response(&self) -> Response {
        match self {
            Limited::TooMany(retry_after) => too_many(*retry_after),
            Limited::Unavailable => limit_unavailable(),
        }
    }
}

/// Checks `credentials`, minding the failed-login limit: a password is checked only in
/// a place the limit gives (so guesses sent at once are held to the limit too), and an
/// address that failed too often is refused before its password is even looked at.
pub(crate) async fn sign_in(
    control: &AccessControl,
    credentials: &Credentials,
    client: Option<IpAddr>,
) -> Result<Identity, SignInError> {
    let attempt = match (control.login_limits(), credentials) {
        (Some(limits), Credentials::Basic { .. }) => match limits.attempt(client).await {
            Ok(attempt) => Some(attempt),
            Err(Refused::TooMany(retry_after)) => {
                crate::metrics::auth_throttled();
                return Err(SignInError::Limited(Limited::TooMany(retry_after)));
            }
            Err(Refused::Unavailable(why)) => {
                crate::metrics::auth_limit_unavailable();
                tracing::error!("login refused: the failed-login limit could not be consulted: {why}");
                return Err(SignInError::Limited(Limited::Unavailable));
            }
        },
        _ => None,
    };
    match control.authenticate(credentials).await {
        Ok(identity) => {
            if let Some(attempt) = attempt {
                attempt.succeeded().await;
            }
            Ok(identity)
        }
        Err(e) => {
            crate::metrics::auth_failure(match &e {
                AuthError::BadPassword => "bad_password",
                AuthError::BadToken(_) => "bad_token",
                AuthError::Unsupported(_) => "unsupported",
                AuthError::Unavailable(_) => "unavailable",
            });
            if let (Some(attempt), AuthError::BadPassword) = (attempt, &e) {
                attempt.failed().await;
            }
            if let AuthError::Unavailable(why) = &e {
                tracing::error!("authentication failed: {why}");
            }
            Err(SignInError::Refused(e))
        }
    }
}

/// The scope a client should get a token for: a push also needs pull (clients check
/// for blobs before uploading them). And a blob's `HEAD` asks for `pull,push`: it is
/// how a client begins a push (is the blob there already?), and clients that keep the
/// first token they get for the rest of the push (oras-py) would otherwise hold one
/// that cannot upload. The token endpoint grants only what the caller may have, so a
/// reader still gets pull, which is all the `HEAD` needs.
fn scope_for(access: &Access, endpoint: Option<&Endpoint>, method: &Method) -> Access {
    let mut scope = access.clone();
    let begins_push = *method == Method::HEAD && matches!(endpoint, Some(Endpoint::Blob { .. }));
    if scope.actions.contains(Action::Push) || begins_push {
        scope.actions = scope.actions.with(Action::Pull).with(Action::Push);
    }
    scope
}

pub(crate) async fn authorize(State(control): State<Arc<AccessControl>>, mut request: Request, next: Next) -> Response {
    let endpoint = match request.extensions_mut().remove::<Parsed>() {
        Some(Parsed(endpoint)) => Some(endpoint),
        None => Endpoint::parse(request.uri().path()).ok(),
    };
    let need = need(endpoint.as_ref(), request.method());
    let mut scopes: Vec<Access> = match &need {
        Need::SignedIn { scope } => scope.iter().cloned().collect(),
        Need::Repository(access) => vec![scope_for(access, endpoint.as_ref(), request.method())],
    };
    let mount = mount_request(&request, endpoint.as_ref());
    if let Some(Mount { from: Some(from) }) = &mount {
        // As CNCF Distribution does: a client that follows the challenge gets a token
        // that may also read the source, so the mount can happen.
        scopes.push(Access::repository(from.clone(), Actions::of([Action::Pull])));
    }
    let challenge = control.challenge();
    let credentials = match presented(&request) {
        Ok(c) => c,
        Err(e) => {
            crate::metrics::auth_failure("malformed");
            return unauthorized(challenge, e.message(), &scopes, None);
        }
    };
    let identity = match sign_in(&control, &credentials, client_address(&request)).await {
        Ok(identity) => identity,
        Err(SignInError::Refused(e)) => {
            let error = matches!(credentials, Credentials::Bearer(_)).then_some(BearerError::InvalidToken);
            return unauthorized(challenge, e.to_string(), &scopes, error);
        }
        Err(SignInError::Limited(limited)) => return limited.response(),
    };
    match &need {
        Need::SignedIn { .. } if identity == Identity::Anonymous => {
            return unauthorized(challenge, "authentication required", &scopes, None);
        }
        Need::SignedIn { scope: Some(scope) } if !may_reach(&identity, scope) => {
            // As Distribution's token flow: a token must grant the catalog to list it,
            // and the challenge tells the client (podman search) to ask for that.
            return unauthorized(
                challenge,
                format!("the token does not grant {scope}"),
                &scopes,
                Some(BearerError::InsufficientScope),
            );
        }
        Need::SignedIn { .. } => {}
        Need::Repository(access) => {
            let Resource::Repository(name) = &access.resource else {
                unreachable!("a repository need names a repository")
            };
            if !control.granted(&identity, name).await.covers(access.actions) {
                return refuse(&control, &identity, access, &scopes);
            }
        }
    }
    if let Some(mount) = mount {
        keep_mount_only_if_source_pullable(&control, &identity, mount, &mut request).await;
    }
    if let Some(endpoint) = endpoint {
        request.extensions_mut().insert(Parsed(endpoint));
    }
    let subject = identity.name().map(|name| Subject(name.to_string()));
    request.extensions_mut().insert(Caller { identity, control });
    let actor = subject.as_ref().map(|s| s.0.clone());
    let mut response = crate::events::with_actor(actor, next.run(request)).await;
    if let Some(subject) = subject {
        response.extensions_mut().insert(subject);
    }
    response
}

/// Whether `identity` may reach what `scope` names: anyone signed in but a token that
/// does not grant it.
fn may_reach(identity: &Identity, scope: &Access) -> bool {
    match identity {
        Identity::Token { access, .. } => access.iter().any(|a| a.resource == scope.resource),
        _ => true,
    }
}

/// 401 for callers who may get more by signing in (anonymous) or by a token with more
/// scope; 403 DENIED for a signed-in user the rules refuse.
fn refuse(control: &AccessControl, identity: &Identity, access: &Access, scopes: &[Access]) -> Response {
    let challenge = control.challenge();
    match identity {
        Identity::Anonymous => unauthorized(challenge, "authentication required", scopes, None),
        Identity::Token { .. } => unauthorized(
            challenge,
            format!("the token does not grant {access}"),
            scopes,
            Some(BearerError::InsufficientScope),
        ),
        Identity::User { .. } => denied(access),
    }
}

/// A cross-repository mount request: `POST …/blobs/uploads/?mount=<digest>&from=<repo>`.
struct Mount {
    /// `from`, when present and a valid repository name.
    from: Option<RepositoryName>,
}

fn mount_request(request: &Request, endpoint: Option<&Endpoint>) -> Option<Mount> {
    if request.method() != Method::POST || !matches!(endpoint, Some(Endpoint::UploadStart { .. })) {
        return None;
    }
    let query = request.uri().query()?;
    let mut pairs = form_urlencoded::parse(query.as_bytes());
    if !pairs.clone().any(|(k, _)| k == "mount") {
        return None;
    }
    let from = pairs.find(|(k, _)| k == "from").and_then(|(_, v)| v.parse().ok());
    Some(Mount { from })
}

/// A cross-repository mount (`?mount=<digest>&from=<repo>`) would let the caller read a
/// blob of `from`, so it needs pull there. Without it (or without `from`, which would
/// link a blob from anywhere) the mount parameters are dropped and the request becomes
/// a plain upload (202), as the spec lets a registry answer any mount: the push goes on,
/// and nothing is revealed about `from`.
async fn keep_mount_only_if_source_pullable(
    control: &AccessControl,
    identity: &Identity,
    mount: Mount,
    request: &mut Request,
) {
    let allowed = match &mount.from {
        Some(from) => control.granted(identity, from).await.contains(Action::Pull),
        None => false,
    };
    if allowed {
        return;
    }
    let query = request.uri().query().unwrap_or_default();
    let kept = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "mount" && k != "from"))
        .finish();
    let path = request.uri().path();
    let rewritten = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{kept}")
    };
    if let Ok(uri) = rewritten.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
}
