//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>` (end-3, end-7, end-9).

use super::body::read_bounded;
use super::headers::{value, DOCKER_CONTENT_DIGEST, OCI_SUBJECT, OCI_TAG};
use super::query::Query;
use crate::registry::{Registry, RegistryError, RegistryResult};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use wharf_oci::{Endpoint, ErrorCode, Reference, RepositoryName, Tag};

/// Most `?tag=` values one push may carry (the spec asks for at least 10).
const MAX_TAGS_PER_PUSH: usize = 1000;

pub async fn get(
    registry: &Registry,
    name: &RepositoryName,
    reference: &Reference,
    with_body: bool,
) -> RegistryResult<Response> {
    // HEAD loads the bytes too (once: they are kept in memory), so that a manifest
    // damaged in storage is answered the same way for HEAD and GET.
    let stored = registry.manifest_or_pull(name, reference).await?;
    let (record, body) = if with_body {
        // A GET is a pull (a HEAD is not): retention's `not_pulled_for` counts from it.
        registry.note_pull(name, &stored.record.digest);
        (stored.record, Body::from(stored.bytes))
    } else {
        (stored.record, Body::empty())
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, value(&record.media_type));
    h.insert(header::CONTENT_LENGTH, value(record.size.to_string()));
    h.insert(DOCKER_CONTENT_DIGEST, value(record.digest.to_string()));
    h.insert(header::ETAG, value(format!("\"{}\"", record.digest)));
    Ok(response)
}

pub async fn put(
    registry: &Registry,
    name: &RepositoryName,
    reference: &Reference,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> RegistryResult<Response> {
    let extra_tags = query.all("tag").map(str::parse::<Tag>).collect::<Result<Vec<_>, _>>()?;
    if extra_tags.len() > MAX_TAGS_PER_PUSH {
        return Err(RegistryError::new(
            ErrorCode::TagInvalid,
            format!("at most {MAX_TAGS_PER_PUSH} tags per push"),
        )
        .with_status(414));
    }
    let limit = registry.config().max_manifest_size;
    let bytes = read_bounded(headers, body, limit, registry.config().body_timeout, "the manifest")
        .await
        .map_err(|e| match e.status {
            413 => RegistryError {
                code: Some(ErrorCode::ManifestInvalid),
                ..e
            },
            _ => e,
        })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let put = registry
        .put_manifest(name, reference, extra_tags, content_type, bytes)
        .await?;

    let location = Endpoint::Manifest {
        name: name.clone(),
        reference: Reference::Digest(put.digest.clone()),
    }
    .path();
    let mut response = (StatusCode::CREATED, [(header::CONTENT_LENGTH, "0")]).into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, value(location));
    h.insert(DOCKER_CONTENT_DIGEST, value(put.digest.to_string()));
    if let Some(subject) = &put.subject {
        h.insert(OCI_SUBJECT, value(subject.to_string()));
    }
    for tag in &put.tags {
        h.append(OCI_TAG, value(tag.as_str()));
    }
    Ok(response)
}

pub async fn delete(registry: &Registry, name: &RepositoryName, reference: &Reference) -> RegistryResult<Response> {
    registry.delete_manifest(name, reference).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}
