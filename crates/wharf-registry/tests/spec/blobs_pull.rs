//! end-2: `GET`/`HEAD /v2/<name>/blobs/<digest>`, whole and by `Range` (206, 416).

use crate::client::{expect_error, header};
use crate::content::{unknown_digest, Blob};
use crate::harness::TestServer;
use reqwest::StatusCode;

#[tokio::test]
async fn get_blob_returns_its_bytes_and_digest() {
    let s = TestServer::start().await;
    let blob = Blob::random(1, 3000);
    s.push_blob("app", &blob).await;

    let response = s.get(&format!("/v2/app/blobs/{}", blob.digest)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "docker-content-digest"), Some(blob.digest.clone()));
    assert_eq!(header(&response, "content-length"), Some("3000".to_string()));
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(response.bytes().await.unwrap(), blob.bytes);
}

#[tokio::test]
async fn head_blob_gives_size_and_digest_without_body() {
    let s = TestServer::start().await;
    let blob = Blob::random(2, 1234);
    let empty = Blob::new(Vec::new());
    s.push_blob("app", &blob).await;
    s.push_blob("app", &empty).await;

    for (b, len) in [(&blob, "1234"), (&empty, "0")] {
        let response = s.head(&format!("/v2/app/blobs/{}", b.digest)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-length").as_deref(), Some(len));
        assert_eq!(header(&response, "docker-content-digest"), Some(b.digest.clone()));
        assert!(response.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn unknown_blob_is_404_blob_unknown() {
    let s = TestServer::start().await;
    s.push_blob("app", &Blob::random(3, 10)).await;
    let path = format!("/v2/app/blobs/{}", unknown_digest(3));
    expect_error(s.get(&path).await, 404, "BLOB_UNKNOWN").await;
    assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_blob_is_served_only_by_repositories_it_was_pushed_to() {
    let s = TestServer::start().await;
    let blob = Blob::random(4, 100);
    s.push_blob("team/a", &blob).await;
    s.push_blob("team/b", &Blob::random(5, 100)).await;
    assert_eq!(
        s.head_status(&format!("/v2/team/a/blobs/{}", blob.digest)).await,
        StatusCode::OK
    );
    let response = s.get(&format!("/v2/team/b/blobs/{}", blob.digest)).await;
    expect_error(response, 404, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn malformed_blob_digest_is_400_digest_invalid() {
    let s = TestServer::start().await;
    for digest in ["sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "nodigest"] {
        let response = s.get(&format!("/v2/app/blobs/{digest}")).await;
        expect_error(response, 400, "DIGEST_INVALID").await;
    }
}

/// A server holding a 2048-byte blob in `app`.
async fn server_with_blob() -> (TestServer, Blob) {
    let s = TestServer::start().await;
    let blob = Blob::random(6, 2048);
    s.push_blob("app", &blob).await;
    (s, blob)
}

async fn ranged_get(s: &TestServer, blob: &Blob, range: &str) -> reqwest::Response {
    let path = format!("/v2/app/blobs/{}", blob.digest);
    s.client.get(s.url(&path)).header("range", range).send().await.unwrap()
}

#[tokio::test]
async fn satisfiable_ranges_are_206_with_content_range() {
    let (s, blob) = server_with_blob().await;
    for (range, start, end) in [
        ("bytes=500-1499", 500, 1500),
        ("bytes=500-", 500, 2048),
        ("bytes=-500", 1548, 2048),
        ("bytes=2000-5000", 2000, 2048),
        ("bytes=0-0", 0, 1),
    ] {
        let response = ranged_get(&s, &blob, range).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let expected_range = format!("bytes {start}-{}/2048", end - 1);
        assert_eq!(header(&response, "content-range"), Some(expected_range), "{range}");
        assert_eq!(
            header(&response, "content-length"),
            Some((end - start).to_string()),
            "{range}"
        );
        assert_eq!(header(&response, "docker-content-digest"), Some(blob.digest.clone()));
        assert_eq!(response.bytes().await.unwrap(), blob.bytes[start..end], "{range}");
    }
}

#[tokio::test]
async fn unsatisfiable_ranges_are_416_with_the_size() {
    let (s, blob) = server_with_blob().await;
    for range in ["bytes=500-0", "bytes=5000-10000", "bytes=2048-"] {
        let response = ranged_get(&s, &blob, range).await;
        assert_eq!(
            header(&response, "content-range").as_deref(),
            Some("bytes */2048"),
            "{range}"
        );
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
}
