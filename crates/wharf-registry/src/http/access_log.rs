//! What every request leaves behind: its id (sent back in `X-Request-Id`), a tracing
//! span around its handling, its metrics, and one log line with the request id, the
//! signed-in subject, the repository, the endpoint kind, the status, the bytes and the
//! duration.
//!
//! The path is parsed into its [`Endpoint`] here, once: the access-control layer and the
//! dispatcher take it from the request's extensions instead of parsing it again.

use super::request_id;
use axum::extract::{OriginalUri, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, Method};
use std::time::Instant;
use tracing::Instrument;
use wharf_oci::Endpoint;

/// The target of the request lines: `--log-requests false` turns it off in the binary
/// (`wharf::access=off`).
pub const TARGET: &str = "wharf::access";

/// The endpoint this layer parsed from the path, for the layers inside.
#[derive(Clone)]
pub(crate) struct Parsed(pub Endpoint);

/// Who signed in, left on the response by the access-control layer for the request line.
#[derive(Clone)]
pub(crate) struct Subject(pub String);

/// Observes one request (see the module's doc). The request line is logged at `info`
/// under the target [`TARGET`]. The query string is left out of it: it may carry values
/// that do not belong in logs; so are all request headers, `Authorization` above all
/// (credentials are never logged).
pub async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let id = request_id::of(request.headers());
    let endpoint = Endpoint::parse(request.uri().path()).ok();
    let kind = match &endpoint {
        Some(e) => e.kind(),
        None if request.uri().path() == "/token" => "token",
        None => "unknown",
    };
    let logging = tracing::enabled!(target: TARGET, tracing::Level::INFO);
    // Only for the log line: no copy of the name when nobody reads it.
    let repository = match (&endpoint, logging) {
        (Some(e), true) => e.name().map(|n| n.to_string()),
        _ => None,
    };
    let path = logging.then(|| original_path(&request));
    let received = content_length(request.headers()).unwrap_or(0);
    let uploading = matches!(kind, "upload" | "upload_start")
        && matches!(method, Method::POST | Method::PATCH | Method::PUT)
        && (received > 0 || request.headers().contains_key(header::TRANSFER_ENCODING));
    let in_progress = uploading.then(crate::metrics::UploadInProgress::start);
    if let Some(endpoint) = endpoint {
        request.extensions_mut().insert(Parsed(endpoint));
    }
    let id_text = id.to_str().unwrap_or_default();
    let span = tracing::info_span!(
        target: "wharf::request",
        "request",
        request_id = id_text,
        method = %method,
        endpoint = kind,
        status = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    drop(in_progress);
    let took = started.elapsed();
    let status = response.status().as_u16();
    span.record("status", status);
    let sent = content_length(response.headers())
        .or_else(|| http_body::Body::size_hint(response.body()).exact())
        .unwrap_or(0);
    crate::metrics::request(
        kind,
        crate::metrics::method_label(&method),
        status,
        took,
        received,
        sent,
    );
    if logging {
        let subject = response.extensions().get::<Subject>().map(|s| s.0.as_str());
        tracing::info!(
            target: TARGET,
            request_id = id_text,
            %method,
            path = path.as_deref().unwrap_or_default(),
            endpoint = kind,
            repository = repository.as_deref(),
            subject,
            status,
            bytes_in = received,
            bytes_out = sent,
            // Milliseconds to the response's head (a body streams on after), to the microsecond.
            ms = %format_args!("{:.3}", took.as_secs_f64() * 1000.0),
        );
    }
    response.headers_mut().insert(request_id::HEADER, id);
    response
}

/// The path as the client sent it: under a prefix the router is nested at, axum has
/// cut the prefix off `uri()` by now.
fn original_path(request: &Request) -> String {
    match request.extensions().get::<OriginalUri>() {
        Some(OriginalUri(original)) => original.path().to_string(),
        None => request.uri().path().to_string(),
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}
