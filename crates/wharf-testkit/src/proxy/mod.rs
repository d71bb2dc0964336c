//! [`FaultProxy`]: an HTTP/1.1 reverse proxy on 127.0.0.1 in front of a registry, which
//! passes everything through unchanged (bodies streamed both ways) until a test adds a
//! [`FaultRule`]; then it breaks matching requests the way networks and overloaded
//! registries do, so the client's retries, resumes and digest checks can be tested.
//!
//! It runs on its own thread with its own Tokio runtime (see [`crate::background`]), so
//! it works the same from a plain `#[test]` and from `#[tokio::test]`.

mod body;
mod exchange;
mod faults;
mod flush;
mod rules;
mod upstream;

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

pub use rules::{Fault, FaultRule, SeenRequest};

use crate::background::{Background, Bound, Runtime};
use body::IDLE_LIMIT;
use exchange::Shared;
use flush::FlushIo;
use rules::Book;
use upstream::Upstream;

/// Body bytes a [`FaultProxy`] passed on (request bodies to the upstream, response
/// bodies to clients), counted as they went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub to_upstream: u64,
    pub to_client: u64,
}

/// A fault-injecting reverse proxy; stopped (every connection closed) on drop.
pub struct FaultProxy {
    server: Background,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy for `upstream` (`http://HOST:PORT`) on a free loopback port. It
    /// accepts connections as soon as this returns.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = Upstream::parse(upstream);
        let bound = Bound::loopback("proxy");
        let shared = Arc::new(Shared {
            book: Book::default(),
            upstream,
            proxy_base: format!("http://{}", bound.addr()),
            to_upstream: Default::default(),
            to_client: Default::default(),
        });
        let served = shared.clone();
        let server = bound.serve(Runtime::CurrentThread, move |stream, _| {
            serve_connection(stream, served.clone())
        });
        FaultProxy { server, shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `127.0.0.1:PORT`, as image references name the registry.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Adds a rule after those already added. Panics on a `Fault::Status` whose status
    /// or `retry_after` is not valid HTTP, so a typo fails the test rather than the proxy.
    pub fn add(&self, rule: FaultRule) {
        if let Fault::Status { status, retry_after } = &rule.fault {
            assert!(
                http::StatusCode::from_u16(*status).is_ok(),
                "Fault::Status: {status} is not an HTTP status"
            );
            if let Some(value) = retry_after {
                assert!(
                    http::HeaderValue::from_str(value).is_ok(),
                    "Fault::Status: {value:?} is not a valid Retry-After value"
                );
            }
        }
        self.shared.book.add(rule);
    }

    /// The body bytes passed through so far, both ways: what a test counts to see how
    /// much of a transfer was sent again.
    pub fn traffic(&self) -> Traffic {
        use std::sync::atomic::Ordering;
        Traffic {
            to_upstream: self.shared.to_upstream.load(Ordering::Relaxed),
            to_client: self.shared.to_client.load(Ordering::Relaxed),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.book.requests()
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (io, client) = FlushIo::new(stream);
    let service = service_fn(move |request| exchange::handle(shared.clone(), client.clone(), request));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_LIMIT)
        .serve_connection(TokioIo::new(io), service)
        .await;
}
