//! HTTP/1.1 written byte by byte over a TCP stream, for requests an HTTP client library
//! would refuse or normalise: `..` and `%2e%2e` path segments, and bodies shorter than
//! their `Content-Length`, or that stop sending.

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a test waits for the server to answer and close.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// `errors[0].code` of a JSON error body.
    pub fn error_code(&self) -> String {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        });
        assert!(
            !body["errors"][0]["message"].as_str().unwrap_or("").is_empty(),
            "error without a message: {body}"
        );
        body["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

/// How a raw request ends after its body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Close the write side, so a body shorter than its `Content-Length` ends there.
    Close,
    /// Keep the connection open and send nothing more: a stalled client.
    Stall,
}

/// Sends `method path` with `headers` and `body`, then closes the write side. Returns the
/// answer, or `None` when the server closed the connection without one.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<RawResponse> {
    exchange(addr, (method, path), headers, body, Then::Close).await
}

/// Sends `method path` with `headers` and `body`, then does what `then` says and waits
/// for the answer.
pub async fn exchange(
    addr: SocketAddr,
    (method, path): (&str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
    then: Then,
) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    if then == Then::Close {
        stream.shutdown().await.unwrap();
    }
    let mut received = Vec::new();
    tokio::time::timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut received))
        .await
        .expect("the server answers and closes within the timeout")
        .ok()?;
    parse(&received)
}

fn parse(received: &[u8]) -> Option<RawResponse> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&received[..end]).unwrap();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(RawResponse {
        status,
        body: received[end + 4..].to_vec(),
    })
}
