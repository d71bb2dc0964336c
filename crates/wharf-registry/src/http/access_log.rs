//! One log line per request: method, path, status, bytes and duration.

use axum::extract::{OriginalUri, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::header;
use std::time::Instant;

/// Logs each request at `info` under the target `wharf::access`. The query string is
/// left out: it may carry values that do not belong in logs; so are all request headers,
/// `Authorization` above all (credentials are never logged).
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The path as the client sent it: under a prefix the router is nested at, axum has
    // cut the prefix off `uri()` by now.
    let path = match request.extensions().get::<OriginalUri>() {
        Some(OriginalUri(original)) => original.path().to_string(),
        None => request.uri().path().to_string(),
    };
    let received = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let response = next.run(request).await;
    let sent = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| http_body::Body::size_hint(response.body()).exact())
        .unwrap_or(0);
    tracing::info!(
        target: "wharf::access",
        %method,
        path,
        status = response.status().as_u16(),
        bytes_in = received,
        bytes_out = sent,
        // Milliseconds to the response's head (a body streams on after), to the microsecond.
        ms = %format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
    );
    response
}
