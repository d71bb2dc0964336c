//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (end-4, end-11) and
//! `GET`/`PATCH`/`PUT`/`DELETE` of the session's location (end-5, 6, 13, 14).

use super::body::{content_length, stream};
use super::headers::{upload_range, value, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID, OCI_CHUNK_MIN_LENGTH};
use super::query::Query;
use crate::registry::{
    BlobInfo, ChunkRange, Registry, RegistryError, RegistryResult, StartUpload, Started, UploadPosition,
};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use wharf_oci::{Algorithm, Digest, Endpoint, ErrorCode, RepositoryName};

pub async fn start(
    registry: &Registry,
    name: &RepositoryName,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> RegistryResult<Response> {
    let start = StartUpload {
        digest: query.parsed::<Digest>("digest", ErrorCode::DigestInvalid)?,
        algorithm: query.parsed::<Algorithm>("digest-algorithm", ErrorCode::DigestInvalid)?,
        mount: query.parsed::<Digest>("mount", ErrorCode::DigestInvalid)?,
        from: query.parsed("from", ErrorCode::NameInvalid)?,
        content_length: content_length(headers)?,
        body: stream(body, registry.config().body_timeout),
    };
    if let Some(from) = &start.from {
        registry.admit_name(from)?;
    }
    match registry.start_upload(name, start).await? {
        Started::Blob(blob) => Ok(created(name, &blob)),
        Started::Session(position) => {
            let mut response = session_response(StatusCode::ACCEPTED, &position);
            let min = registry.config().chunk_min_length;
            if min > 0 {
                response
                    .headers_mut()
                    .insert(OCI_CHUNK_MIN_LENGTH, value(min.to_string()));
            }
            Ok(response)
        }
    }
}

pub async fn status(registry: &Registry, name: &RepositoryName, id: &str) -> RegistryResult<Response> {
    let position = registry.upload_status(name, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, &position))
}

pub async fn patch(
    registry: &Registry,
    name: &RepositoryName,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> RegistryResult<Response> {
    let range = content_range(headers)?;
    let position = registry
        .upload_chunk(
            name,
            id,
            range,
            content_length(headers)?,
            stream(body, registry.config().body_timeout),
        )
        .await?;
    Ok(session_response(StatusCode::ACCEPTED, &position))
}

pub async fn put(
    registry: &Registry,
    name: &RepositoryName,
    id: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> RegistryResult<Response> {
    let digest = query.parsed::<Digest>("digest", ErrorCode::DigestInvalid)?;
    let range = content_range(headers)?;
    let blob = registry
        .finish_upload(
            name,
            id,
            digest,
            range,
            content_length(headers)?,
            stream(body, registry.config().body_timeout),
        )
        .await?;
    Ok(created(name, &blob))
}

pub async fn cancel(registry: &Registry, name: &RepositoryName, id: &str) -> RegistryResult<Response> {
    registry.cancel_upload(name, id).await?;
    Ok((StatusCode::NO_CONTENT, ()).into_response())
}

/// 201 for a blob now in the repository.
fn created(name: &RepositoryName, blob: &BlobInfo) -> Response {
    let location = Endpoint::Blob {
        name: name.clone(),
        digest: blob.digest.clone(),
    }
    .path();
    let mut response = (StatusCode::CREATED, [(header::CONTENT_LENGTH, "0")]).into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, value(location));
    h.insert(DOCKER_CONTENT_DIGEST, value(blob.digest.to_string()));
    response
}

/// 202/204 for an open session: where to continue and how much is there.
fn session_response(status: StatusCode, position: &UploadPosition) -> Response {
    let mut response = (status, [(header::CONTENT_LENGTH, "0")]).into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, value(&position.location));
    h.insert(header::RANGE, upload_range(position.offset));
    if let Some(id) = position.location.rsplit('/').next() {
        h.insert(DOCKER_UPLOAD_UUID, value(id));
    }
    response
}

/// `Content-Range: <first>-<last>` of a chunk. `bytes ` and `/<total>` as RFC 9110
/// writes them are accepted too.
fn content_range(headers: &HeaderMap) -> RegistryResult<Option<ChunkRange>> {
    let Some(raw) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || {
        RegistryError::new(
            ErrorCode::BlobUploadInvalid,
            format!("Content-Range {raw:?} is not of the form <first>-<last>"),
        )
        .with_status(416)
    };
    let text = raw.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("bytes").map(str::trim_start).unwrap_or(text);
    let text = text.split('/').next().unwrap_or("").trim();
    let (first, last) = text.split_once('-').ok_or_else(invalid)?;
    let number = |s: &str| -> RegistryResult<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        s.parse().map_err(|_| invalid())
    };
    Ok(Some(ChunkRange {
        first: number(first)?,
        last: number(last)?,
    }))
}
