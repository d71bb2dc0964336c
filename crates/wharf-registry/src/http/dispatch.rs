//! Parses the path into an [`Endpoint`] and calls the handler for it and the method.

use super::access_log::Parsed;
use super::authorize::Caller;
use super::{blobs, listing, manifests, uploads, AppState};
use crate::registry::{RegistryError, RegistryResult};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, Method, StatusCode};
use wharf_oci::{Endpoint, EndpointError, ErrorCode, Resource};

pub async fn dispatch(State(registry): State<AppState>, request: Request) -> Response {
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    match route(registry, request).await {
        Ok(response) => response,
        Err(error) => {
            let mut response = error.into_response();
            // The body may be unread (a refusal comes before it is streamed anywhere):
            // say that the connection ends, so the client does not send on it again.
            if has_body {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// The error for a path that did not parse. A malformed tag can name no manifest, so
/// reading or deleting one is a plain 404 (clients probe with such names); only a push
/// to it is refused as invalid. A path that goes on past a resource word without naming
/// one of its resources gets that resource's error, whatever the method: a repository
/// that exists is never reported unknown because of what follows its name.
fn endpoint_error(e: EndpointError, method: &Method) -> RegistryError {
    match e {
        EndpointError::Reference(n) if method != Method::PUT => RegistryError::new(
            ErrorCode::ManifestUnknown,
            format!("no manifest can have this reference: {n}"),
        ),
        EndpointError::NotFound(path) => RegistryError::new(
            ErrorCode::NameUnknown,
            format!("{path} is not an endpoint of the distribution API"),
        )
        .with_status(404),
        EndpointError::Unaddressable { resource, rest } => unaddressable(resource, &rest, method),
        EndpointError::Name(n) | EndpointError::Reference(n) => n.into(),
        EndpointError::Digest(d) => d.into(),
        EndpointError::Session(id) => RegistryError::new(
            ErrorCode::BlobUploadUnknown,
            format!("upload {id} is not known to this registry"),
        ),
    }
}

/// The error for `rest`, found where a digest, reference or session id of `resource`
/// belongs but holding a `/` (so it is none of them). A manifest reference with a `:`
/// was meant as a digest, and is answered as any malformed digest is.
fn unaddressable(resource: Resource, rest: &str, method: &Method) -> RegistryError {
    let digest_like = rest.contains(':');
    match resource {
        Resource::Blob | Resource::Referrers => RegistryError::new(
            ErrorCode::DigestInvalid,
            format!("{rest:?} is not a digest (a digest has no '/')"),
        ),
        Resource::Upload => RegistryError::new(
            ErrorCode::BlobUploadUnknown,
            format!("{rest:?} is not an upload session of this registry"),
        ),
        Resource::Manifest if digest_like => RegistryError::new(
            ErrorCode::DigestInvalid,
            format!("{rest:?} is not a digest (a digest has no '/')"),
        ),
        Resource::Manifest if method == Method::PUT => RegistryError::new(
            ErrorCode::TagInvalid,
            format!("{rest:?} is neither a tag nor a digest (neither has a '/')"),
        ),
        Resource::Manifest => RegistryError::new(
            ErrorCode::ManifestUnknown,
            format!("no manifest can have this reference: {rest:?} (a tag or digest has no '/')"),
        ),
    }
}

fn method_not_allowed(method: &Method, allow: &'static str) -> RegistryResult<Response> {
    let error = RegistryError::unsupported(format!("{method} is not supported here; use {allow}"));
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, http::HeaderValue::from_static(allow));
    Ok(response)
}

async fn route(registry: AppState, request: Request) -> RegistryResult<Response> {
    let (mut parts, body): (_, Body) = request.into_parts();
    let endpoint = match parts.extensions.remove::<Parsed>() {
        Some(Parsed(endpoint)) => endpoint,
        None => Endpoint::parse(parts.uri.path()).map_err(|e| endpoint_error(e, &parts.method))?,
    };
    if let Some(name) = endpoint.name() {
        registry.admit_name(name)?;
    }
    let method = &parts.method;
    let query = super::query::Query::parse(parts.uri.query());
    let r = &registry;
    match endpoint {
        Endpoint::Base => match *method {
            Method::GET | Method::HEAD => {
                Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response())
            }
            _ => method_not_allowed(method, "GET, HEAD"),
        },
        Endpoint::Catalog => match *method {
            Method::GET => listing::catalog(r, &query, parts.extensions.get::<Caller>()).await,
            _ => method_not_allowed(method, "GET"),
        },
        Endpoint::Tags { name } => match *method {
            Method::GET => listing::tags(r, &name, &query).await,
            _ => method_not_allowed(method, "GET"),
        },
        Endpoint::Referrers { name, digest } => match *method {
            Method::GET => listing::referrers(r, &name, &digest, &query).await,
            _ => method_not_allowed(method, "GET"),
        },
        Endpoint::Blob { name, digest } => match *method {
            Method::GET => blobs::get(r, &name, &digest, &parts.headers, true).await,
            Method::HEAD => blobs::get(r, &name, &digest, &parts.headers, false).await,
            Method::DELETE => blobs::delete(r, &name, &digest).await,
            _ => method_not_allowed(method, "GET, HEAD, DELETE"),
        },
        Endpoint::Manifest { name, reference } => match *method {
            Method::GET => manifests::get(r, &name, &reference, true).await,
            Method::HEAD => manifests::get(r, &name, &reference, false).await,
            Method::PUT => manifests::put(r, &name, &reference, &query, &parts.headers, body).await,
            Method::DELETE => manifests::delete(r, &name, &reference).await,
            _ => method_not_allowed(method, "GET, HEAD, PUT, DELETE"),
        },
        Endpoint::UploadStart { name } => match *method {
            Method::POST => uploads::start(r, &name, &query, &parts.headers, body).await,
            _ => method_not_allowed(method, "POST"),
        },
        Endpoint::Upload { name, session } => match *method {
            Method::GET => uploads::status(r, &name, &session).await,
            Method::PATCH => uploads::patch(r, &name, &session, &parts.headers, body).await,
            Method::PUT => uploads::put(r, &name, &session, &query, &parts.headers, body).await,
            Method::DELETE => uploads::cancel(r, &name, &session).await,
            _ => method_not_allowed(method, "GET, PATCH, PUT, DELETE"),
        },
    }
}
