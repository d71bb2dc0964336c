//! One request through the proxy: log it, find the fault that fires on it, and answer
//! it (forwarded, invented, or not at all).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{BoxError, Guarded, Progress, ProxyBody};
use super::faults;
use super::flush::FlushSignal;
use super::rules::{Book, Fault};
use super::upstream::Upstream;

/// What all connections of one proxy share.
pub(crate) struct Shared {
    pub(crate) book: Book,
    pub(crate) upstream: Upstream,
    /// `http://127.0.0.1:PORT` of the proxy, for rewriting `Location`.
    pub(crate) proxy_base: String,
    /// Request body bytes passed to the upstream.
    pub(crate) to_upstream: Arc<AtomicU64>,
    /// Response body bytes passed to clients.
    pub(crate) to_client: Arc<AtomicU64>,
}

/// How the upstream's response body reaches the client.
enum Reply {
    Whole,
    /// After this many bytes, the client's connection (whose flushes the signal counts)
    /// is cut.
    Cut(u64, FlushSignal),
    Corrupt,
    /// After this many bytes, nothing more.
    Stall(u64),
}

/// Hyper's service for one request on a client connection; `client` counts that
/// connection's flushes. An `Err` makes hyper close the connection without an answer.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    client: FlushSignal,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, BoxError> {
    let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_string();
    let (index, fault) = shared.book.arrive(request.method(), &path_and_query);
    let request = request.map(|body| body.map_err(BoxError::from).boxed());
    let response = match fault {
        None => forward(&shared, request, Reply::Whole).await,
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            forward(&shared, request, Reply::Whole).await
        }
        Some(Fault::DropResponseAfter { bytes }) => forward(&shared, request, Reply::Cut(bytes, client)).await,
        Some(Fault::CorruptResponse) => forward(&shared, request, Reply::Corrupt).await,
        Some(Fault::Status { status, retry_after }) => {
            faults::drain(request.into_body()).await;
            // Both were checked when the rule was added.
            let status = http::StatusCode::from_u16(status).expect("a valid status");
            let retry_after = retry_after.map(|v| v.parse().expect("a valid Retry-After"));
            faults::status_response(status, retry_after.as_ref())
        }
        Some(Fault::DropRequestAfter { bytes }) => {
            faults::send_truncated(&shared.upstream, request, bytes, shared.to_upstream.clone()).await;
            return Err("wharf-testkit proxy: request dropped by a fault rule".into());
        }
        Some(Fault::StallRequestAfter { bytes }) => {
            faults::send_truncated(&shared.upstream, request, bytes, shared.to_upstream.clone()).await;
            // Never answered; the connection ends when the client or the proxy goes.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Some(Fault::StallResponseAfter { bytes }) => forward(&shared, request, Reply::Stall(bytes)).await,
    };
    shared.book.answered(index, response.status().as_u16());
    Ok(response)
}

/// Sends `request` upstream on a fresh connection and streams the answer back, shaped
/// by `reply`; the proxy's own 502/504 when the upstream gives no answer.
async fn forward(shared: &Shared, request: Request<ProxyBody>, reply: Reply) -> Response<ProxyBody> {
    let progress = Progress::new();
    let mut connection = match shared.upstream.connect().await {
        Ok(connection) => connection,
        Err(failure) => return faults::text_response(failure.status(), failure.message()),
    };
    let request = shared.upstream.request(request.map(|body| {
        Guarded::whole(body)
            .with_progress(progress.clone())
            .counting(shared.to_upstream.clone())
            .boxed()
    }));
    let response = match connection.send(request, &progress).await {
        Ok(response) => response,
        Err(failure) => return faults::text_response(failure.status(), failure.message()),
    };
    let (mut parts, body) = response.into_parts();
    shared.upstream.response_headers(&mut parts.headers, &shared.proxy_base);
    let body = body.map_err(BoxError::from).boxed();
    let body = match reply {
        Reply::Whole => Guarded::whole(body),
        Reply::Cut(bytes, signal) => Guarded::cut(body, bytes, signal),
        Reply::Corrupt => Guarded::corrupt(body, faults::corrupt_offset(&parts.headers)),
        Reply::Stall(bytes) => Guarded::stall(body, bytes),
    };
    Response::from_parts(parts, body.counting(shared.to_client.clone()).boxed())
}
