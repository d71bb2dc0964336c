//! Request bodies: streamed for blobs, read whole (bounded) for manifests.

use crate::registry::{RegistryError, RegistryResult};
use crate::storage::ByteStream;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use http::{header, HeaderMap};
use std::io;
use std::time::Duration;
use wharf_oci::ErrorCode;

/// The body as a stream of bytes for the blob store. A client that sends nothing for
/// `idle` ends the stream with a `TimedOut` error, so a stalled or hostile client cannot
/// hold a request (and its upload session) open for ever; what arrived before is kept.
pub fn stream(body: Body, idle: Duration) -> ByteStream {
    let data = body.into_data_stream().map_err(io::Error::other);
    futures::stream::unfold(Some(data), move |state| async move {
        let mut data = state?;
        match tokio::time::timeout(idle, data.next()).await {
            Ok(Some(piece)) => Some((piece, Some(data))),
            Ok(None) => None,
            Err(_) => Some((Err(stalled(idle)), None)),
        }
    })
    .boxed()
}

fn stalled(idle: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the client sent nothing for {}", humantime::format_duration(idle)),
    )
}

/// The `Content-Length` header, if present and numeric.
pub fn content_length(headers: &HeaderMap) -> RegistryResult<Option<u64>> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| RegistryError::new(ErrorCode::SizeInvalid, "Content-Length is not a number")),
    }
}

/// Reads a whole body of at most `limit` bytes; 413 above it, without reading on.
/// A client that sends nothing for `idle` gets an error, as in [`stream`].
pub async fn read_bounded(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    idle: Duration,
    what: &str,
) -> RegistryResult<Bytes> {
    let too_large = || {
        RegistryError::new(
            ErrorCode::SizeInvalid,
            format!("{what} is larger than this registry's limit of {limit} bytes"),
        )
        .with_status(413)
    };
    let declared = content_length(headers)?;
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = stream(body, idle);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::new(
                ErrorCode::SizeInvalid,
                format!("the request body could not be read: {e}"),
            )
        })?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    if declared.is_some_and(|len| len != buf.len() as u64) {
        return Err(RegistryError::new(
            ErrorCode::SizeInvalid,
            "the body length differs from Content-Length",
        ));
    }
    Ok(buf.freeze())
}
