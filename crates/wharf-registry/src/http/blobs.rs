//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (end-2, end-10).

use super::headers::{value, DOCKER_CONTENT_DIGEST};
use super::range::{resolve, RangeAnswer};
use crate::registry::{BlobAnswer, Registry, RegistryError, RegistryResult};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use std::sync::Arc;
use wharf_oci::{Digest, ErrorCode, RepositoryName};

pub async fn get(
    registry: &Arc<Registry>,
    name: &RepositoryName,
    digest: &Digest,
    headers: &HeaderMap,
    with_body: bool,
) -> RegistryResult<Response> {
    let blob = if !registry.pulls_through(name) {
        registry.blob(name, digest).await?
    } else if with_body {
        match registry.blob_or_pull(name, digest).await? {
            BlobAnswer::Stored(blob) => {
                // An upstream's cache evicts the least recently pulled blobs first.
                registry.note_pull(name, digest);
                blob
            }
            BlobAnswer::Pulling { size, stream } => return Ok(pulling(digest, size, Body::from_stream(stream))),
        }
    } else {
        match registry.blob(name, digest).await {
            Err(e) if e.code == Some(ErrorCode::BlobUnknown) => {
                match registry.upstream_blob_size(name, digest).await? {
                    Some(size) => return Ok(pulling(digest, Some(size), Body::empty())),
                    None => return Err(e),
                }
            }
            found => found?,
        }
    };
    if with_body {
        if let Some(url) = registry.blob_redirect(&blob).await? {
            // The client follows it with the same Range header, which storage honours.
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            let h = response.headers_mut();
            h.insert(header::LOCATION, value(url));
            h.insert(DOCKER_CONTENT_DIGEST, value(digest.to_string()));
            h.insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("0"));
            return Ok(response);
        }
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match resolve(range_header, blob.size) {
        RangeAnswer::Full => (StatusCode::OK, 0..blob.size),
        RangeAnswer::Partial(r) => (StatusCode::PARTIAL_CONTENT, r),
        RangeAnswer::Unsatisfiable => {
            let error = RegistryError::new(
                ErrorCode::BlobUnknown,
                format!(
                    "range {:?} is not satisfiable for a blob of {} bytes",
                    range_header.unwrap_or(""),
                    blob.size
                ),
            )
            .with_status(416);
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_RANGE, value(format!("bytes */{}", blob.size)));
            return Ok(response);
        }
    };
    let body = if with_body {
        Body::from_stream(registry.blob_bytes(&blob, range.clone()).await?)
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, value((range.end - range.start).to_string()));
    h.insert(header::ACCEPT_RANGES, http::HeaderValue::from_static("bytes"));
    h.insert(DOCKER_CONTENT_DIGEST, value(digest.to_string()));
    h.insert(header::ETAG, value(format!("\"{digest}\"")));
    h.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("max-age=31536000"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            value(format!("bytes {}-{}/{}", range.start, range.end - 1, blob.size)),
        );
    }
    Ok(response)
}

/// The answer for a blob coming from an upstream: the whole blob (a `Range` is not
/// honoured until it is cached), of the size the upstream announced.
fn pulling(digest: &Digest, size: Option<u64>, body: Body) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(size) = size {
        h.insert(header::CONTENT_LENGTH, value(size.to_string()));
    }
    h.insert(DOCKER_CONTENT_DIGEST, value(digest.to_string()));
    h.insert(header::ETAG, value(format!("\"{digest}\"")));
    response
}

pub async fn delete(registry: &Registry, name: &RepositoryName, digest: &Digest) -> RegistryResult<Response> {
    registry.delete_blob(name, digest).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}
