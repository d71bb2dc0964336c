//! A stub upstream for what Distribution cannot show: odd statuses and `Location`s, and
//! exactly how many request body bytes reached the upstream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What a [`Stub`] read of one request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub path: String,
    pub bytes: u64,
    /// The body ended as its framing said, rather than with a broken connection.
    pub complete: bool,
}

/// A tiny upstream for what Distribution cannot show: it reads every request body to
/// the end (or to the break) and records it, then answers by path:
/// `/redirect` 307 to its own `/v2/elsewhere`, `/relative` 201 with a relative
/// `Location`, `/status/NNN` that status, anything else 204.
pub struct Stub {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stub {
    /// Runs on its own thread and runtime, like the proxy, so that dropping it inside a
    /// `#[tokio::test]` is allowed.
    pub fn start() -> Stub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let stream = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => accepted.unwrap().0,
                    };
                    let log = log.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| answer(addr, log.clone(), request));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        Stub {
            addr,
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first `count` bodies received, waiting at most 10 s for them.
    pub fn received(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the stub received {received:?}, not {count} bodies"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

async fn answer(
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_string();
    let mut body = request.into_body();
    let (mut bytes, mut complete) = (0, true);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes += frame.data_ref().map_or(0, |data| data.len() as u64),
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    log.lock().unwrap().push(Received {
        path: path.clone(),
        bytes,
        complete,
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    let status = match path.as_str() {
        "/redirect" => {
            let location = format!("http://{addr}/v2/elsewhere?x=1");
            response.headers_mut().insert("location", location.parse().unwrap());
            StatusCode::TEMPORARY_REDIRECT
        }
        "/relative" => {
            response
                .headers_mut()
                .insert("location", "/v2/r/blobs/uploads/1".parse().unwrap());
            StatusCode::CREATED
        }
        _ => match path.strip_prefix("/status/") {
            Some(code) => StatusCode::from_u16(code.parse().unwrap()).unwrap(),
            None => StatusCode::NO_CONTENT,
        },
    };
    *response.status_mut() = status;
    Ok(response)
}
