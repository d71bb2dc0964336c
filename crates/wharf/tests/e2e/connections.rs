//! Connections that hold a slot without sending requests: silent ones, ones that trickle
//! their headers a byte at a time, and idle keep-alive ones. They are closed after the
//! header or idle timeout, and however many there are, a client that sends a request at
//! once is served, even with few file descriptors. Likewise downloads whose clients
//! never read the answer hold nothing other requests need.

use crate::harness::{content_digest, content_stream, http_client, open_upload, with_digest, WharfProcess};
use futures::StreamExt;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `GET /v2/ HTTP/1.1` a byte every `pause`, for ever (until the server closes the
/// connection or the task is dropped).
async fn trickle(mut stream: TcpStream, pause: Duration) {
    for byte in b"GET /v2/ HTTP/1.1\r\nHost: x\r\n"
        .iter()
        .chain(b"X-Slow: ")
        .chain([b'a'; 1000].iter())
    {
        if stream.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

/// How long until the server closes `stream` (a read returns end of file or a reset),
/// reading at most `limit`; `None` if it is still open then.
async fn closed_after(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn get_v2_within_a_second(base: &str) {
    let asked = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(1), http_client().get(format!("{base}/v2/")).send())
        .await
        .unwrap_or_else(|_| panic!("GET /v2/ not answered within a second"))
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    eprintln!("connections: GET /v2/ answered in {:?}", asked.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_connections_do_not_lock_out_a_client_even_with_few_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start_with_open_file_limit(dir.path(), &[], 128);
    let mut silent = Vec::new();
    let mut trickling = tokio::task::JoinSet::new();
    for i in 0..300 {
        let stream = TcpStream::connect(("127.0.0.1", wharf.port)).await.unwrap();
        if i % 3 == 0 {
            trickling.spawn(trickle(stream, Duration::from_millis(300)));
        } else {
            silent.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        get_v2_within_a_second(&wharf.url()).await;
    }
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_requests_are_closed_after_the_header_and_idle_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &["--header-timeout", "1s", "--idle-timeout", "2s"]);
    let connect = || TcpStream::connect(("127.0.0.1", wharf.port));

    let mut silent = connect().await.unwrap();
    let (mut trickling, mut fed) = connect().await.unwrap().into_split();
    let trickler = tokio::spawn(async move {
        for byte in b"GET /v2/ HTTP/1.1\r\nX-Slow: ".iter().chain([b'a'; 100].iter()) {
            if fed.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let limit = Duration::from_secs(5);
    let (silent_closed, trickling_closed) =
        tokio::join!(closed_after(&mut silent, limit), closed_after(&mut trickling, limit));
    trickler.abort();
    for (what, closed) in [("silent", silent_closed), ("trickling", trickling_closed)] {
        assert!(
            closed.is_some_and(|t| t >= Duration::from_millis(800)),
            "a {what} connection is closed after the 1 s header timeout, not before: {closed:?}"
        );
    }

    // A keep-alive connection that sent one request is closed the idle timeout after
    // its response, not the header timeout after it.
    let mut idle = connect().await.unwrap();
    idle.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let idle_closed = closed_after(&mut idle, Duration::from_secs(6)).await;
    assert!(
        idle_closed.is_some_and(|t| t >= Duration::from_millis(1700)),
        "an idle connection is closed after the 2 s idle timeout, not before: {idle_closed:?}"
    );

    // A request in progress is not idle: an upload longer than both timeouts completes.
    let http = http_client();
    let (seed, len) = (41, 8 << 10);
    let session = open_upload(&http, &wharf.url(), "slow/upload").await.unwrap();
    let paced = content_stream(seed, len, 1 << 10).then(|piece| async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        piece
    });
    let put = http
        .put(with_digest(&session, &content_digest(seed, len)))
        .body(reqwest::Body::wrap_stream(paced))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "an upload of 3.2 s is not cut off");
}

/// `wharf serve` speaks HTTP/2 with prior knowledge (h2c) as well as HTTP/1.1.
#[test]
fn http2_with_prior_knowledge_is_served() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let out = crate::harness::run_bounded(
        {
            let mut curl = std::process::Command::new("curl");
            curl.args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                "--http2-prior-knowledge",
            ])
            .arg(format!("{}/v2/", wharf.url()));
            curl
        },
        Duration::from_secs(10),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

/// The flow-control windows an HTTP/2 server announces when a client opens a connection
/// with prior knowledge: (stream window from its SETTINGS, connection window after its
/// WINDOW_UPDATE on stream 0). Read from the frames themselves, as no client library
/// reports what its peer announced.
async fn announced_windows(addr: &str) -> (u32, u32) {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const DEFAULT_WINDOW: u32 = 65_535;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The preface and an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let (mut stream_window, mut connection_window) = (DEFAULT_WINDOW, DEFAULT_WINDOW);
    let mut settings_seen = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let mut header = [0u8; 9];
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read_exact(&mut header)).await;
        let Ok(Ok(_)) = read else { break };
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let stream_id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.unwrap();
        match kind {
            // SETTINGS (not its ACK): SETTINGS_INITIAL_WINDOW_SIZE is identifier 4.
            4 if flags & 1 == 0 => {
                settings_seen = true;
                for entry in payload.chunks_exact(6) {
                    if u16::from_be_bytes([entry[0], entry[1]]) == 4 {
                        stream_window = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                    }
                }
            }
            // WINDOW_UPDATE of the connection.
            8 if stream_id == 0 => {
                connection_window += u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
            }
            _ => {}
        }
    }
    assert!(settings_seen, "the server sent no SETTINGS");
    (stream_window, connection_window)
}

/// An HTTP/2 client (every TLS client that offers `h2`: wharf's own, Docker's, curl) may
/// have no more of a request body in flight than the server's windows allow. The
/// windows must be larger than what an upload gathers before it stores (a 1 MiB batch
/// to a file, an 8 MiB part to S3), or a push stalls at each batch: with hyper's default
/// of 1 MiB a 1 GiB push over TLS ran at a quarter of its HTTP/1.1 speed.
#[tokio::test]
async fn http2_flow_control_windows_leave_room_for_a_whole_upload_batch() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let (stream_window, connection_window) = announced_windows(&wharf.host()).await;
    assert!(stream_window >= 16 << 20, "stream window {stream_window}");
    assert!(connection_window >= 32 << 20, "connection window {connection_window}");
}

/// Hundreds of unauthenticated GETs of a large blob whose clients never read the
/// answer (more than the runtime's 512 blocking threads) leave other downloads and
/// uploads served at once: a download waiting for its client holds no thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_nobody_reads_do_not_stall_other_downloads_and_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let base = wharf.url();
    let big = crate::pull_through::push_blob(&base, "unread/big", crate::harness::content(1, 0..64 << 20)).await;
    let small = crate::pull_through::push_blob(&base, "unread/small", crate::harness::content(2, 0..(2 << 20))).await;
    let mut unread = Vec::new();
    for _ in 0..600 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(([127, 0, 0, 1], wharf.port).into()).await.unwrap();
        let request = format!("GET /v2/unread/big/blobs/{big} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        unread.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = http_client();
    let fetched = tokio::time::timeout(
        Duration::from_secs(10),
        crate::harness::fetch_hashed(&http, &format!("{base}/v2/unread/small/blobs/{small}")),
    )
    .await
    .expect("a download waited behind downloads nobody reads")
    .unwrap();
    assert_eq!(fetched.digest, small);
    let pushed = tokio::time::timeout(
        Duration::from_secs(10),
        crate::pull_through::push_blob(&base, "unread/other", crate::harness::content(3, 0..4096)),
    )
    .await;
    assert!(pushed.is_ok(), "an upload waited behind downloads nobody reads");
    drop(unread);
}
