//! [`RoundRobin`]: a load balancer for tests, in front of several registry replicas.
//! Each request goes to the next backend in turn (per request, not per connection, so a
//! client's consecutive requests alternate replicas deterministically); a backend that
//! refuses the connection (a replica that was killed) is skipped for that request, as a
//! production balancer marks it down. Bodies stream both ways, unbuffered; the client's
//! `Host` is passed on, with `X-Forwarded-For` and `X-Forwarded-Proto`, as nginx is
//! configured to (`scripts/cluster`).
//!
//! It runs on its own thread with its own Tokio runtime (see [`crate::background`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::background::{Background, Bound, Runtime};

type Body = BoxBody<Bytes, hyper::Error>;

/// One request as the balancer passed it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Index of the backend that served it.
    pub backend: usize,
}

struct Shared {
    backends: Vec<String>,
    next: AtomicUsize,
    routed: Mutex<Vec<Routed>>,
}

/// A round-robin balancer on a free loopback port; stopped (every connection closed)
/// on drop.
pub struct RoundRobin {
    server: Background,
    shared: Arc<Shared>,
}

impl RoundRobin {
    /// Starts a balancer over `backends` (`host:port` each, plain HTTP).
    pub fn start(backends: Vec<String>) -> RoundRobin {
        assert!(!backends.is_empty(), "RoundRobin needs a backend");
        let shared = Arc::new(Shared {
            backends,
            next: AtomicUsize::new(0),
            routed: Mutex::new(Vec::new()),
        });
        let served = shared.clone();
        let server = Bound::loopback("balancer").serve(Runtime::MultiThread { workers: 2 }, move |stream, peer| {
            serve_connection(stream, peer, served.clone())
        });
        RoundRobin { server, shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `127.0.0.1:PORT`, as image references name the registry.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Every request passed on so far, in the order they were routed.
    pub fn routed(&self) -> Vec<Routed> {
        self.shared.routed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| forward(shared.clone(), peer, request));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60))
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Headers that belong to one connection, not passed on.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

async fn forward(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_string();
    *request.uri_mut() = path.parse().expect("a path and query is a valid URI");
    let headers = request.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::EXPECT);
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(&peer.ip().to_string()).expect("an IP is a header value"),
    );
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    let method = request.method().to_string();
    // The next backend in turn that accepts a connection.
    let start = shared.next.fetch_add(1, Ordering::SeqCst);
    let count = shared.backends.len();
    for attempt in 0..count {
        let backend = (start + attempt) % count;
        let Ok(stream) = tokio::net::TcpStream::connect(&shared.backends[backend]).await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(_) => continue,
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        shared
            .routed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Routed { method, path, backend });
        return match sender.send_request(request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                for name in HOP_BY_HOP {
                    parts.headers.remove(name);
                }
                Ok(Response::from_parts(parts, body.boxed()))
            }
            Err(e) => Ok(answer(
                StatusCode::BAD_GATEWAY,
                &format!("backend {backend} failed: {e}"),
            )),
        };
    }
    Ok(answer(StatusCode::BAD_GATEWAY, "no backend accepts connections"))
}

fn answer(status: StatusCode, message: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(format!("wharf-testkit balancer: {message}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
