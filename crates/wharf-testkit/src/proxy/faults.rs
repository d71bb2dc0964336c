//! The faults that are more than a shaped body: an invented error answer, and a request
//! cut on its way to the upstream. (Cut and corrupted response bodies are shapes of
//! [`super::body::Guarded`].)

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::body::{Guarded, Progress, ProxyBody};
use super::upstream::Upstream;

/// The answer of [`super::Fault::Status`]: the distribution spec's error body, so that
/// a client's error parsing is exercised as it would be by a real registry.
pub(crate) fn status_response(status: StatusCode, retry_after: Option<&HeaderValue>) -> Response<ProxyBody> {
    let code = if status == StatusCode::TOO_MANY_REQUESTS {
        "TOOMANYREQUESTS"
    } else {
        "UNAVAILABLE"
    };
    let body = serde_json::json!({
        "errors": [{ "code": code, "message": format!("injected by wharf-testkit: {status}") }]
    });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(retry_after) = retry_after {
        headers.insert(header::RETRY_AFTER, retry_after.clone());
    }
    response
}

/// The proxy's own answer when the upstream gave none.
pub(crate) fn text_response(status: StatusCode, message: String) -> Response<ProxyBody> {
    let mut response = Response::new(full(message));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn full(text: String) -> ProxyBody {
    Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed()
}

/// Reads and discards a request body (each frame within the idle limit). Answering
/// before the client finished sending would make the kernel reset the connection, and
/// the client would see a reset instead of the status under test.
pub(crate) async fn drain(body: ProxyBody) {
    let mut body = Guarded::whole(body);
    while let Some(Ok(_)) = body.frame().await {}
}

/// Where [`super::Fault::CorruptResponse`] flips a bit: the middle byte by
/// Content-Length, or the first byte when the length is unknown.
pub(crate) fn corrupt_offset(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |len| len / 2)
}

/// [`super::Fault::DropRequestAfter`]: sends the head and the first `bytes` of the body
/// to the upstream, and returns once the upstream connection is closed (or, for a body
/// within the budget, once the upstream answered; the answer is dropped). The caller
/// then closes the client's connection without an answer.
pub(crate) async fn send_truncated(
    upstream: &Upstream,
    request: Request<ProxyBody>,
    bytes: u64,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let progress = Progress::new();
    let Ok(mut connection) = upstream.connect().await else {
        return;
    };
    let signal = connection.signal.clone();
    let request = upstream.request(request.map(|body| {
        Guarded::cut(body, bytes, signal)
            .with_progress(progress.clone())
            .counting(counter)
            .boxed()
    }));
    drop(connection.send(request, &progress).await);
    connection.closed().await;
}
