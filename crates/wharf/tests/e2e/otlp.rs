//! OpenTelemetry traces (a build with `--features otlp`): spans reach an OTLP/HTTP
//! receiver as protobuf, named for the configured service, with the request span and the
//! metadata and blob-store spans inside it.

use crate::harness::{http_client, WharfProcess};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver got: each POST's path, content type and body.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP receiver: answers every request 200 and keeps it.
async fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(10), serve(stream, kept)).await;
            });
        }
    });
    (url, received)
}

async fn serve(mut stream: TcpStream, kept: Received) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        while buffer.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
        let body = buffer[end + 4..end + 4 + length].to_vec();
        kept.lock().unwrap().push((path, header("content-type"), body));
        buffer.drain(..end + 4 + length);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver() {
    let (collector, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = WharfProcess::start(
        &dir.path().join("data"),
        &["--otlp-endpoint", &collector, "--otlp-service-name", "wharf-otlp-e2e"],
    );
    let http = http_client();
    let base = server.url();
    assert!(http
        .get(format!("{base}/v2/"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let tags = http.get(format!("{base}/v2/some/repo/tags/list")).send().await.unwrap();
    assert_eq!(tags.status(), reqwest::StatusCode::NOT_FOUND);
    // Stopping sends what the exporter still holds.
    assert!(server.terminate().success());
    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "no OTLP request arrived");
    let contains = |needle: &[u8]| {
        received
            .iter()
            .any(|(_, _, body)| body.windows(needle.len()).any(|w| w == needle))
    };
    for (path, content_type, body) in &received {
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf");
        assert!(!body.is_empty());
    }
    assert!(contains(b"wharf-otlp-e2e"), "the service name is in the spans");
    assert!(contains(b"request"), "the request span");
    assert!(contains(b"meta."), "a metadata call's span");
}
