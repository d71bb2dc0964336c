//! Blob pushes the registry must refuse: wrong digests, bodies shorter or longer than
//! announced, unknown sessions, chunks out of order or overlapping (416 with the
//! session's `Location` and `Range`), oversized chunks. After each refusal the blob is
//! not visible and the session is where it was.

use crate::client::{expect_error, header, location, with_query, OCTET_STREAM};
use crate::content::{bytes, sha256, unknown_digest};
use crate::harness::TestServer;
use crate::raw;
use reqwest::{Method, StatusCode};
use std::time::{Duration, SystemTime};
use wharf_registry::RegistryConfig;

/// Asserts the session at `loc` holds `offset` bytes (`Range: 0-<offset-1>`).
async fn assert_offset(s: &TestServer, loc: &str, offset: u64) {
    let response = s.get(loc).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&response, "range"),
        Some(format!("0-{}", offset.saturating_sub(1)))
    );
}

async fn assert_no_blob(s: &TestServer, repo: &str, digest: &str) {
    let path = format!("/v2/{repo}/blobs/{digest}");
    assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND, "{path}");
}

/// Asserts a 416 that tells where the session at `loc` stands.
async fn assert_out_of_order(response: reqwest::Response, loc: &str, offset: u64) {
    assert_eq!(header(&response, "location").as_deref(), Some(loc));
    assert_eq!(
        header(&response, "range"),
        Some(format!("0-{}", offset.saturating_sub(1)))
    );
    expect_error(response, 416, "BLOB_UPLOAD_INVALID").await;
}

fn stream_body(data: &[u8]) -> reqwest::Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = data.chunks(64).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

#[tokio::test]
async fn a_wrong_digest_on_the_closing_put_is_400_digest_invalid() {
    let s = TestServer::start().await;
    let data = bytes(1, 1000);
    let claimed = sha256(b"something else");
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &data[..500]).await.status(),
        StatusCode::ACCEPTED
    );
    expect_error(s.put_upload(&loc, &claimed, &data[500..]).await, 400, "DIGEST_INVALID").await;
    assert_no_blob(&s, "app", &claimed).await;
    assert_no_blob(&s, "app", &sha256(&data)).await;
    expect_error(s.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn a_wrong_digest_on_a_single_post_is_400_digest_invalid() {
    let s = TestServer::start().await;
    let data = bytes(2, 300);
    let claimed = sha256(b"not these bytes");
    let response = s
        .request(Method::POST, &format!("/v2/app/blobs/uploads/?digest={claimed}"))
        .header("content-type", OCTET_STREAM)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "DIGEST_INVALID").await;
    assert_no_blob(&s, "app", &claimed).await;
    assert_no_blob(&s, "app", &sha256(&data)).await;
    assert_no_sessions(&s).await;
}

#[tokio::test]
async fn a_closing_put_without_a_valid_digest_is_400_and_keeps_the_session() {
    let s = TestServer::start().await;
    let data = bytes(3, 100);
    let loc = s.start_upload("app").await;
    assert_eq!(s.patch_chunk(&loc, 0, &data).await.status(), StatusCode::ACCEPTED);
    let response = s.request(Method::PUT, &loc).body(Vec::new()).send().await.unwrap();
    expect_error(response, 400, "DIGEST_INVALID").await;
    let response = s.put_upload(&loc, "sha256:zz", b"").await;
    expect_error(response, 400, "DIGEST_INVALID").await;
    assert_offset(&s, &loc, 100).await;
    assert_eq!(
        s.put_upload(&loc, &sha256(&data), b"").await.status(),
        StatusCode::CREATED
    );
}

/// Sends `body` with a `Content-Length` of `declared` bytes, then closes the connection.
async fn send_truncated(s: &TestServer, method: &str, path: &str, range: Option<&str>, body: &[u8], declared: u64) {
    let declared = declared.to_string();
    let mut headers = vec![("Content-Type", OCTET_STREAM), ("Content-Length", declared.as_str())];
    headers.extend(range.map(|r| ("Content-Range", r)));
    let answer = raw::send(s.addr, method, path, &headers, body).await;
    let answer = answer.expect("the server answers a body cut short");
    assert_eq!(answer.status, 400, "{answer:?}");
    let code = answer.error_code();
    assert!(
        ["SIZE_INVALID", "BLOB_UPLOAD_INVALID"].contains(&code.as_str()),
        "{code}"
    );
}

/// Asserts the registry holds no upload session and no upload bytes.
async fn assert_no_sessions(s: &TestServer) {
    let far_future = SystemTime::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    assert_eq!(
        s.registry.expire_uploads(far_future).await.unwrap(),
        0,
        "a session was left behind"
    );
    let files = std::fs::read_dir(s.data_dir().join("uploads")).unwrap().count();
    assert_eq!(files, 0, "upload bytes were left behind");
}

#[tokio::test]
async fn a_chunk_cut_off_keeps_what_arrived_and_the_upload_resumes_from_there() {
    let s = TestServer::start().await;
    let data = bytes(4, 100);
    let loc = s.start_upload("app").await;
    send_truncated(&s, "PATCH", &loc, Some("0-99"), &data[..10], 100).await;
    assert_offset(&s, &loc, 10).await;

    // The client resumes from the session's Range.
    let response = s.patch_chunk(&loc, 10, &data[10..]).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = s.put_upload(&loc, &sha256(&data), b"").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let pulled = s.get(&format!("/v2/app/blobs/{}", sha256(&data))).await;
    assert_eq!(pulled.bytes().await.unwrap(), data);
}

#[tokio::test]
async fn a_stalled_chunk_is_given_up_after_the_body_timeout() {
    let s = TestServer::with_config(RegistryConfig {
        body_timeout: Duration::from_secs(1),
        ..RegistryConfig::default()
    })
    .await;
    let data = bytes(6, 100);
    let loc = s.start_upload("app").await;
    let headers = [
        ("Content-Type", OCTET_STREAM),
        ("Content-Length", "100"),
        ("Content-Range", "0-99"),
    ];
    let answer = raw::exchange(s.addr, ("PATCH", &loc), &headers, &data[..10], raw::Then::Stall).await;
    let answer = answer.expect("a stalled client gets an answer");
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.error_code(), "BLOB_UPLOAD_INVALID");
    assert!(String::from_utf8_lossy(&answer.body).contains("sent nothing for 1s"));

    // What arrived before the stall is kept; the client resumes from there and the blob
    // has the right digest.
    assert_offset(&s, &loc, 10).await;
    assert_eq!(
        s.patch_chunk(&loc, 10, &data[10..]).await.status(),
        StatusCode::ACCEPTED
    );
    let response = s.put_upload(&loc, &sha256(&data), b"").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let pulled = s.get(&format!("/v2/app/blobs/{}", sha256(&data))).await;
    assert_eq!(pulled.bytes().await.unwrap(), data);
}

/// A closing PUT that stalls keeps what arrived too: the session stays open at that
/// offset, and the client finishes it from there.
#[tokio::test]
async fn a_stalled_closing_put_keeps_what_arrived() {
    let s = TestServer::with_config(RegistryConfig {
        body_timeout: Duration::from_secs(1),
        ..RegistryConfig::default()
    })
    .await;
    let data = bytes(8, 3000);
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &data[..1000]).await.status(),
        StatusCode::ACCEPTED
    );
    let put = crate::client::with_query(&loc, "digest", &sha256(&data));
    let headers = [
        ("Content-Type", OCTET_STREAM),
        ("Content-Length", "2000"),
        ("Content-Range", "1000-2999"),
    ];
    let answer = raw::exchange(s.addr, ("PUT", &put), &headers, &data[1000..1500], raw::Then::Stall).await;
    assert_eq!(answer.expect("an answer").status, 400);
    assert_offset(&s, &loc, 1500).await;
    let response = s.put_upload(&loc, &sha256(&data), &data[1500..]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let pulled = s.get(&format!("/v2/app/blobs/{}", sha256(&data))).await;
    assert_eq!(pulled.bytes().await.unwrap(), data);
}

/// Bytes an upload stored but never recorded (the process stopped mid-request) are
/// accounted when the registry starts again: the session resumes from what is on disk.
#[tokio::test]
async fn bytes_stored_but_not_recorded_are_accounted_at_start() {
    let s = TestServer::start().await;
    let data = bytes(9, 5000);
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &data[..1000]).await.status(),
        StatusCode::ACCEPTED
    );
    // What an append cut off by a stop leaves: the file longer than the session says.
    let id = loc.rsplit('/').next().unwrap().split('?').next().unwrap();
    let file = s.data_dir().join("uploads").join(id);
    let mut on_disk = std::fs::read(&file).unwrap();
    on_disk.extend_from_slice(&data[1000..4000]);
    std::fs::write(&file, &on_disk).unwrap();
    assert_offset(&s, &loc, 1000).await;

    assert_eq!(s.registry.account_interrupted_uploads().await.unwrap(), 1);
    assert_offset(&s, &loc, 4000).await;
    assert_eq!(
        s.patch_chunk(&loc, 4000, &data[4000..]).await.status(),
        StatusCode::ACCEPTED
    );
    let response = s.put_upload(&loc, &sha256(&data), b"").await;
    assert_eq!(response.status(), StatusCode::CREATED, "the digest covers every byte");
}

#[tokio::test]
async fn a_single_post_cut_short_leaves_no_blob_and_no_session() {
    let s = TestServer::start().await;
    let data = bytes(5, 100);
    let path = format!("/v2/app/blobs/uploads/?digest={}", sha256(&data));
    send_truncated(&s, "POST", &path, None, &data[..60], 100).await;
    assert_no_blob(&s, "app", &sha256(&data)).await;
    assert_no_sessions(&s).await;
}

#[tokio::test]
async fn content_length_unlike_content_range_is_400_size_invalid() {
    let s = TestServer::start().await;
    let loc = s.start_upload("app").await;
    let response = s
        .request(Method::PATCH, &loc)
        .header("content-type", OCTET_STREAM)
        .header("content-range", "0-9")
        .body(vec![1u8; 5])
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "SIZE_INVALID").await;
    assert_offset(&s, &loc, 0).await;
}

#[tokio::test]
async fn a_streamed_body_unlike_its_range_is_400_size_invalid() {
    let s = TestServer::start().await;
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &bytes(6, 10)).await.status(),
        StatusCode::ACCEPTED
    );
    let response = s
        .request(Method::PATCH, &loc)
        .header("content-type", OCTET_STREAM)
        .header("content-range", "10-19")
        .body(stream_body(&bytes(7, 500)))
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "SIZE_INVALID").await;
    assert_offset(&s, &loc, 10).await;

    let response = s
        .request(Method::PATCH, &loc)
        .header("content-range", "10-19")
        .body(stream_body(&bytes(7, 5)))
        .send()
        .await
        .unwrap();
    // Shorter than announced: refused, and what arrived is kept for the client to resume.
    expect_error(response, 400, "SIZE_INVALID").await;
    assert_offset(&s, &loc, 15).await;
}

#[tokio::test]
async fn unknown_upload_sessions_are_404_blob_upload_unknown() {
    let s = TestServer::start().await;
    s.start_upload("app").await;
    let digest = unknown_digest(1);
    for id in ["3f1c9a52-0000-4000-8000-000000000000", "..%2F..%2Fetc", "a.b", "x%00"] {
        let loc = format!("/v2/app/blobs/uploads/{id}");
        expect_error(s.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
        expect_error(s.patch_chunk(&loc, 0, b"abc").await, 404, "BLOB_UPLOAD_UNKNOWN").await;
        expect_error(s.put_upload(&loc, &digest, b"abc").await, 404, "BLOB_UPLOAD_UNKNOWN").await;
        expect_error(s.delete(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    }
    assert_no_blob(&s, "app", &sha256(b"abc")).await;
}

#[tokio::test]
async fn a_chunk_past_the_end_is_416_with_the_session_state() {
    let s = TestServer::start().await;
    let data = bytes(8, 30);
    let loc = s.start_upload("app").await;
    assert_out_of_order(s.patch_chunk(&loc, 10, &data[10..20]).await, &loc, 0).await;
    assert_eq!(s.patch_chunk(&loc, 0, &data[..10]).await.status(), StatusCode::ACCEPTED);
    assert_out_of_order(s.patch_chunk(&loc, 20, &data[20..]).await, &loc, 10).await;
    assert_offset(&s, &loc, 10).await;
    assert_eq!(
        s.patch_chunk(&loc, 10, &data[10..]).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.put_upload(&loc, &sha256(&data), b"").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_resent_or_overlapping_chunk_is_416() {
    let s = TestServer::start().await;
    let data = bytes(9, 30);
    let loc = s.start_upload("app").await;
    assert_eq!(s.patch_chunk(&loc, 0, &data[..20]).await.status(), StatusCode::ACCEPTED);
    assert_out_of_order(s.patch_chunk(&loc, 0, &data[..20]).await, &loc, 20).await;
    assert_out_of_order(s.patch_chunk(&loc, 15, &data[15..]).await, &loc, 20).await;
    assert_offset(&s, &loc, 20).await;
    assert_eq!(
        s.patch_chunk(&loc, 20, &data[20..]).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.put_upload(&loc, &sha256(&data), b"").await.status(),
        StatusCode::CREATED
    );
    let pulled = s.get(&format!("/v2/app/blobs/{}", sha256(&data))).await;
    assert_eq!(pulled.bytes().await.unwrap(), data);
}

#[tokio::test]
async fn an_out_of_order_closing_put_is_416_and_keeps_the_session() {
    let s = TestServer::start().await;
    let data = bytes(10, 30);
    let loc = s.start_upload("app").await;
    assert_eq!(s.patch_chunk(&loc, 0, &data[..10]).await.status(), StatusCode::ACCEPTED);
    let put_last = |range: &'static str, body: Vec<u8>| {
        s.request(Method::PUT, &with_query(&loc, "digest", &sha256(&data)))
            .header("content-type", OCTET_STREAM)
            .header("content-range", range)
            .body(body)
            .send()
    };
    assert_out_of_order(put_last("20-29", data[20..].to_vec()).await.unwrap(), &loc, 10).await;
    assert_no_blob(&s, "app", &sha256(&data)).await;
    assert_offset(&s, &loc, 10).await;
    let response = put_last("10-29", data[10..].to_vec()).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_malformed_or_backwards_content_range_is_refused() {
    let s = TestServer::start().await;
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &bytes(11, 10)).await.status(),
        StatusCode::ACCEPTED
    );
    for range in ["abc", "10-", "-5", "10-5"] {
        let response = s
            .request(Method::PATCH, &loc)
            .header("content-range", range)
            .body(vec![0u8; 5])
            .send()
            .await
            .unwrap();
        expect_error(response, 416, "BLOB_UPLOAD_INVALID").await;
    }
    assert_offset(&s, &loc, 10).await;
}

#[tokio::test]
async fn a_chunk_over_the_configured_limit_is_413_size_invalid() {
    let s = TestServer::with_config(RegistryConfig {
        chunk_max_length: Some(100),
        ..RegistryConfig::default()
    })
    .await;
    let data = bytes(12, 200);
    let loc = s.start_upload("app").await;
    expect_error(s.patch_chunk(&loc, 0, &data).await, 413, "SIZE_INVALID").await;
    let streamed = s
        .request(Method::PATCH, &loc)
        .body(stream_body(&data))
        .send()
        .await
        .unwrap();
    expect_error(streamed, 413, "SIZE_INVALID").await;
    assert_offset(&s, &loc, 0).await;
    let response = s.patch_chunk(&loc, 0, &data[..100]).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(location(&response), loc);
}

#[tokio::test]
async fn a_refused_chunk_closes_its_connection_and_the_client_carries_on() {
    let s = TestServer::start().await;
    let loc = s.start_upload("app").await;
    // The registry refuses before reading the body: the connection cannot be reused.
    let response = s.patch_chunk(&loc, 5, &bytes(13, 1024 * 1024)).await;
    assert_eq!(header(&response, "connection").as_deref(), Some("close"));
    expect_error(response, 416, "BLOB_UPLOAD_INVALID").await;
    let unknown = format!("/v2/app/blobs/uploads/{}", uuid::Uuid::new_v4());
    let response = s.patch_chunk(&unknown, 0, &bytes(14, 1024 * 1024)).await;
    assert_eq!(header(&response, "connection").as_deref(), Some("close"));
    expect_error(response, 404, "BLOB_UPLOAD_UNKNOWN").await;
    for _ in 0..3 {
        assert_offset(&s, &loc, 0).await;
    }
}

/// A PATCH whose body stalls does not hold its session for the whole body timeout: a
/// status GET answers at once, and a newer request on the session takes it over (the
/// stalled one keeps what arrived and lets go), so the client resumes within seconds.
#[tokio::test]
async fn a_stalled_chunk_does_not_hold_its_session_for_the_body_timeout() {
    let s = TestServer::with_config(RegistryConfig {
        body_timeout: Duration::from_secs(60),
        ..RegistryConfig::default()
    })
    .await;
    let data = bytes(10, 100);
    let loc = s.start_upload("app").await;
    let (addr, stalled_path, first) = (s.addr, loc.clone(), data[..10].to_vec());
    let stalled = tokio::spawn(async move {
        let headers = [
            ("Content-Type", OCTET_STREAM),
            ("Content-Length", "100"),
            ("Content-Range", "0-99"),
        ];
        raw::exchange(addr, ("PATCH", &stalled_path), &headers, &first, raw::Then::Stall).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    assert_offset(&s, &loc, 0).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the status waited {:?}",
        started.elapsed()
    );

    // The client gave up on the stalled request and sends the chunk again: it is told
    // where the session stands (the 10 bytes that arrived were kept) and resumes.
    let retry = s.patch_chunk(&loc, 0, &data).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the retry waited {:?}",
        started.elapsed()
    );
    assert_eq!(retry.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(crate::client::header(&retry, "range").as_deref(), Some("0-9"));
    let answer = tokio::time::timeout(Duration::from_secs(5), stalled)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.expect("the stalled request is answered").status, 400);
    assert_eq!(
        s.patch_chunk(&loc, 10, &data[10..]).await.status(),
        StatusCode::ACCEPTED
    );
    let response = s.put_upload(&loc, &sha256(&data), b"").await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
