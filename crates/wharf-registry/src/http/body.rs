//! Request bodies: streamed for blobs, read whole (bounded) for manifests.

use crate::registry::{RegistryError, RegistryResult};
use crate::storage::ByteStream;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{header, HeaderMap};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use wharf_oci::ErrorCode;

/// The body as a stream of bytes for the blob store. A client that sends nothing for
/// `idle` ends the stream with a `TimedOut` error, so a stalled or hostile client cannot
/// hold a request (and its upload session) open for ever; what arrived before is kept.
pub fn stream(body: Body, idle: Duration) -> ByteStream {
    Box::pin(IdleBody {
        data: body.into_data_stream(),
        idle,
        last: Instant::now(),
        timer: None,
        done: false,
    })
}

/// A body with an idle timeout that costs one clock read per piece. The timer is armed
/// only while the body has nothing to give and is moved forward only when it fires
/// (to the last piece's time plus `idle`), instead of a new timer for every piece.
struct IdleBody {
    data: axum::body::BodyDataStream,
    idle: Duration,
    /// When the last piece (or the start) was seen.
    last: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl Stream for IdleBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.data.poll_next_unpin(cx) {
            Poll::Ready(Some(piece)) => {
                this.last = Instant::now();
                return Poll::Ready(Some(piece.map_err(io::Error::other)));
            }
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        let deadline = this.last + this.idle;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                // Armed for an earlier piece: wait the rest of the time from the last one.
                Poll::Ready(()) if timer.deadline() < deadline => timer.as_mut().reset(deadline),
                Poll::Ready(()) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(stalled(this.idle))));
                }
            }
        }
    }
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
