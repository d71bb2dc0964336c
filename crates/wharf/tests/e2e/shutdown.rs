//! Graceful shutdown of `wharf serve`: on SIGTERM it stops accepting connections, lets
//! the requests in flight finish, and exits with success; idle connections do not hold
//! it up, and what was stored (blobs and open upload sessions) is intact after a restart.

use crate::harness::{
    assert_stored_blobs_match_names, content, content_digest, content_stream, fetch_hashed, http_client, open_upload,
    with_digest, Fetched, WharfProcess,
};
use futures::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The slow upload: 200 MiB in 1 MiB pieces with a pause after each (about 2 s).
const SLOW_SIZE: u64 = 200 << 20;
const SLOW_PIECE: u64 = 1 << 20;
const SLOW_PAUSE: Duration = Duration::from_millis(8);

/// A body of `len` bytes of stream `seed` that pauses after every piece and counts what
/// it handed to the client in `sent`.
fn paced_body(seed: u64, len: u64, sent: Arc<AtomicU64>) -> reqwest::Body {
    let stream = content_stream(seed, len, SLOW_PIECE).then(move |piece| {
        let sent = sent.clone();
        async move {
            tokio::time::sleep(SLOW_PAUSE).await;
            sent.fetch_add(piece.as_ref().map_or(0, |p| p.len() as u64), Ordering::SeqCst);
            piece
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// Polls (at most 5 s) until connecting to `port` is refused.
async fn wait_until_refused(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            // A connection caught in the closing listener's queue is reset: ask again.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connecting after SIGTERM failed otherwise than refused: {e}"),
            Ok(_) => assert!(
                Instant::now() < deadline,
                "wharf still accepts connections 5 s after SIGTERM"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_upload_in_flight_refuses_new_connections_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &[]);
    let (http, base, seed) = (http_client(), wharf.url(), 200);
    let digest = content_digest(seed, SLOW_SIZE);
    let session = open_upload(&http, &base, "shutdown/slow").await.unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let upload = tokio::spawn(
        http.put(with_digest(&session, &digest))
            .header(CONTENT_LENGTH, SLOW_SIZE)
            .body(paced_body(seed, SLOW_SIZE, sent.clone()))
            .send(),
    );
    while sent.load(Ordering::SeqCst) < SLOW_SIZE / 4 {
        assert!(!upload.is_finished(), "the slow upload ended early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    wharf.send_sigterm();
    wait_until_refused(wharf.port).await;
    let sent_when_refused = sent.load(Ordering::SeqCst);
    assert!(
        sent_when_refused < SLOW_SIZE,
        "refusal seen only after the body was sent; nothing was tested"
    );
    let fresh_client = http_client().get(format!("{base}/v2/")).send().await;
    assert!(
        fresh_client.is_err_and(|e| e.is_connect()),
        "a new request after SIGTERM must not be served"
    );

    let response = tokio::time::timeout(Duration::from_secs(30), upload)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the upload in flight at SIGTERM completes"
    );
    assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
    let status = tokio::task::spawn_blocking(move || (wharf.wait_exit(), wharf))
        .await
        .unwrap()
        .0;
    assert!(status.success(), "wharf exits with success after SIGTERM, got {status}");
    eprintln!(
        "shutdown: SIGTERM refused new connections with {} of {SLOW_SIZE} bytes sent",
        sent_when_refused
    );

    let wharf = WharfProcess::start(dir.path(), &[]);
    let fetched = fetch_hashed(&http, &format!("{}/v2/shutdown/slow/blobs/{digest}", wharf.url()))
        .await
        .unwrap();
    assert_eq!(
        fetched,
        Fetched {
            status: StatusCode::OK,
            digest,
            len: SLOW_SIZE
        },
        "the blob after restart"
    );
    assert_eq!(assert_stored_blobs_match_names(&wharf.data_dir), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_idle_connections_exits_promptly_and_open_sessions_resume_after_restart() {
    const LEN: u64 = 3 << 20;
    const FIRST: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &[]);
    let (http, seed) = (http_client(), 300);
    // An open session holding its first chunk; the client's connection stays idle in its pool.
    let session = open_upload(&http, &wharf.url(), "shutdown/idle").await.unwrap();
    let chunk = http
        .patch(&session)
        .header(CONTENT_RANGE, format!("0-{}", FIRST - 1))
        .body(content(seed, 0..FIRST))
        .send()
        .await
        .unwrap();
    assert_eq!(chunk.status(), StatusCode::ACCEPTED);

    let (port, asked) = (wharf.port, Instant::now());
    let status = tokio::task::spawn_blocking(move || wharf.terminate()).await.unwrap();
    assert!(status.success(), "wharf exits with success after SIGTERM, got {status}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "an idle connection delayed exit by {:?}",
        asked.elapsed()
    );

    let wharf = WharfProcess::start_on(port, dir.path(), &[]);
    let progress = http.get(&session).send().await.unwrap();
    assert_eq!(
        progress.status(),
        StatusCode::NO_CONTENT,
        "the open session survives a graceful restart"
    );
    assert_eq!(progress.headers()[RANGE], format!("0-{}", FIRST - 1).as_str());
    let digest = content_digest(seed, LEN);
    let close = http
        .put(with_digest(&session, &digest))
        .header(CONTENT_RANGE, format!("{FIRST}-{}", LEN - 1))
        .body(content(seed, FIRST..LEN))
        .send()
        .await
        .unwrap();
    assert_eq!(close.status(), StatusCode::CREATED, "closing the resumed session");
    let fetched = fetch_hashed(&http, &format!("{}/v2/shutdown/idle/blobs/{digest}", wharf.url()))
        .await
        .unwrap();
    assert_eq!(
        fetched,
        Fetched {
            status: StatusCode::OK,
            digest,
            len: LEN
        }
    );
}

/// A client that stalls mid-body cannot keep the server alive after SIGTERM: once
/// `--shutdown-timeout` has passed, wharf exits anyway, and the stalled upload left
/// nothing behind in the repository.
#[tokio::test]
async fn sigterm_stops_within_the_shutdown_timeout_despite_a_stalled_body() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &["--shutdown-timeout", "1s"]);
    let digest = content_digest(7, 100);
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", wharf.port)).await.unwrap();
    let head =
        format!("POST /v2/stall/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&content(7, 0..10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let asked = Instant::now();
    wharf.send_sigterm();
    let (status, stopped) = tokio::task::spawn_blocking(move || (wharf.wait_exit(), wharf))
        .await
        .unwrap();
    let waited = asked.elapsed();
    drop(stopped);
    assert!(status.success(), "wharf exited with {status}");
    assert!(
        waited >= Duration::from_millis(900),
        "stopped after {waited:?}, before the timeout"
    );
    assert!(waited < Duration::from_secs(10), "stopped only after {waited:?}");
    drop(stalled);

    let wharf = WharfProcess::start(dir.path(), &[]);
    let head = http_client()
        .head(format!("{}/v2/stall/blobs/{digest}", wharf.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
}

/// A second SIGTERM during the graceful wait stops wharf at once, with a failure status
/// and a line in the log saying so.
#[tokio::test]
async fn a_second_sigterm_stops_at_once() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("wharf.log");
    let mut wharf = WharfProcess::start_logging_to(&dir.path().join("data"), &["--shutdown-timeout", "60s"], &log);
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", wharf.port)).await.unwrap();
    let head = format!(
        "POST /v2/stall/blobs/uploads/?digest={} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
        content_digest(7, 100)
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&content(7, 0..10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    wharf.send_sigterm();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        wharf.child.try_wait().unwrap().is_none(),
        "the first SIGTERM waits for the request in flight"
    );
    let asked = Instant::now();
    wharf.send_sigterm();
    let (status, stopped) = tokio::task::spawn_blocking(move || (wharf.wait_exit(), wharf))
        .await
        .unwrap();
    drop(stopped);
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopped {:?} after the second SIGTERM",
        asked.elapsed()
    );
    assert!(!status.success(), "a forced stop is no success: {status}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("second stop signal"), "{log}");
}

/// `wharf serve` names its data directory as an absolute path, whatever it was given.
#[test]
fn the_data_directory_is_logged_as_an_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("wharf.log");
    let port = crate::harness::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["serve", "--data-dir", "relative-data", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(dir.path())
        .env("WHARF_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The log is written by a thread of its own: wait for the line itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("wharf listening") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let expected = std::fs::canonicalize(dir.path()).unwrap().join("relative-data");
    assert!(
        log.contains(&format!("data in {},", expected.display())),
        "expected {}: {log}",
        expected.display()
    );
}
