//! The proxy's side towards the upstream: one fresh HTTP/1.1 connection per request, so
//! that a fault on one request can cut its connection without touching another's, and
//! so that a truncated request body can be timed against that connection's flushes.
//! The request and response are otherwise passed on as they are, minus the hop-by-hop
//! headers that belong to one connection only.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::body::{BoxError, Progress, ProxyBody, IDLE_LIMIT};
use super::flush::{FlushIo, FlushSignal};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where requests go: `http://HOST:PORT`, no path.
pub(crate) struct Upstream {
    /// `http://host:port`, for recognising the upstream in `Location` headers.
    base: String,
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
}

/// Why the upstream gave no answer, as the status the proxy answers instead.
pub(crate) enum Failure {
    /// Not reachable, or the exchange broke: 502.
    BadGateway(BoxError),
    /// No progress for the idle limit: 504.
    Timeout,
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Failure::BadGateway(e) => format!("wharf-testkit proxy: upstream failed: {e}"),
            Failure::Timeout => format!("wharf-testkit proxy: upstream idle for {} s", IDLE_LIMIT.as_secs()),
        }
    }
}

/// One connection to the upstream, for one request.
pub(crate) struct Connection {
    sender: SendRequest<ProxyBody>,
    /// Flushes of this connection's socket, for a request body that is cut.
    pub(crate) signal: FlushSignal,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Panics unless `url` is `http://HOST:PORT` (a trailing `/` is allowed): the proxy
    /// is for loopback tests, and a mistyped upstream should fail the test at once.
    pub(crate) fn parse(url: &str) -> Upstream {
        let uri: Uri = url
            .parse()
            .unwrap_or_else(|e| panic!("FaultProxy upstream {url:?} is not a URL: {e}"));
        let authority = match (uri.scheme_str(), uri.authority(), uri.path()) {
            (Some("http"), Some(authority), "" | "/") if authority.port().is_some() => authority.to_string(),
            _ => panic!("FaultProxy upstream {url:?} must be http://HOST:PORT"),
        };
        Upstream {
            base: format!("http://{authority}").to_ascii_lowercase(),
            authority,
        }
    }

    pub(crate) async fn connect(&self) -> Result<Connection, Failure> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.authority)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Failure::BadGateway(e.into())),
            Err(_) => return Err(Failure::Timeout),
        };
        let _ = stream.set_nodelay(true);
        let (io, signal) = FlushIo::new(stream);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::BadGateway(e.into()))?;
        // Ends when the exchange is over or broken; the runtime's shutdown ends it too.
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender, signal, task })
    }

    /// The client's request as the upstream should see it: origin-form URI, the
    /// upstream's `Host`, no hop-by-hop headers.
    pub(crate) fn request(&self, mut request: Request<ProxyBody>) -> Request<ProxyBody> {
        let path_and_query = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        *request.uri_mut() = path_and_query.parse().expect("a path and query stays a valid URI");
        let headers = request.headers_mut();
        strip_hop_by_hop(headers);
        // The proxy's own server answered any `Expect: 100-continue` already.
        headers.remove(header::EXPECT);
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&self.authority).expect("an authority is a valid header value"),
        );
        request
    }

    /// The upstream's response head as the client should see it: no hop-by-hop
    /// headers, and a `Location` on the upstream pointing at the proxy instead.
    pub(crate) fn response_headers(&self, headers: &mut HeaderMap, proxy_base: &str) {
        strip_hop_by_hop(headers);
        let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Some(prefix) = location.get(..self.base.len()) else {
            return;
        };
        let rest = &location[self.base.len()..];
        if prefix.eq_ignore_ascii_case(&self.base) && (rest.is_empty() || rest.starts_with(['/', '?'])) {
            let rewritten = format!("{proxy_base}{rest}");
            if let Ok(value) = HeaderValue::from_str(&rewritten) {
                headers.insert(header::LOCATION, value);
            }
        }
    }
}

impl Connection {
    /// Sends `request` and waits for the response head for as long as the request body
    /// keeps moving (`progress`) and then at most the idle limit.
    pub(crate) async fn send(
        &mut self,
        request: Request<ProxyBody>,
        progress: &Progress,
    ) -> Result<Response<Incoming>, Failure> {
        let response = self.sender.send_request(request);
        tokio::pin!(response);
        loop {
            match tokio::time::timeout(Duration::from_millis(500), &mut response).await {
                Ok(result) => return result.map_err(|e| Failure::BadGateway(e.into())),
                Err(_) if progress.idle_for() > IDLE_LIMIT => return Err(Failure::Timeout),
                Err(_) => continue,
            }
        }
    }

    /// Waits (bounded) until the connection is closed, e.g. after a cut request body.
    pub(crate) async fn closed(self) {
        drop(self.sender);
        let _ = tokio::time::timeout(IDLE_LIMIT, self.task).await;
    }
}

/// Removes the headers that describe one connection rather than the message
/// (RFC 9110 section 7.6.1), including those that `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}
