//! Blob pushes: end-4a (POST opens a session), end-4b (single POST `?digest=`), end-4c
//! (`?digest-algorithm=`), end-5 (PATCH chunks, also streamed), end-6 (closing PUT),
//! end-13 (upload status) and end-14 (cancel), plus the expiry of idle sessions.

use crate::client::{expect_error, header, location, with_query, OCTET_STREAM};
use crate::content::{bytes, sha256, sha512, Blob};
use crate::harness::TestServer;
use reqwest::{Method, StatusCode};
use std::time::{Duration, SystemTime};
use wharf_registry::RegistryConfig;

/// Asserts the blob is pullable from `repo` with exactly these bytes and digest.
async fn assert_pullable(s: &TestServer, repo: &str, digest: &str, expected: &[u8]) {
    let response = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "docker-content-digest").as_deref(), Some(digest));
    assert_eq!(response.bytes().await.unwrap(), expected);
}

/// Asserts a 201 that ends a push: `Location` is the blob's URL, the digest header.
fn assert_created(response: &reqwest::Response, repo: &str, digest: &str) {
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(location(response), format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(header(response, "docker-content-digest").as_deref(), Some(digest));
}

#[tokio::test]
async fn post_opens_a_session_with_location_and_empty_range() {
    let s = TestServer::start().await;
    let response = s.post_upload("org/app", "").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let loc = location(&response);
    assert!(loc.starts_with("/v2/org/app/blobs/uploads/"), "{loc}");
    assert!(loc.len() > "/v2/org/app/blobs/uploads/".len());
    assert_eq!(header(&response, "range").as_deref(), Some("0-0"));
    assert_eq!(header(&response, "content-length").as_deref(), Some("0"));
    assert_eq!(header(&response, "oci-chunk-min-length"), None);
    let other = s.start_upload("org/app").await;
    assert_ne!(loc, other, "every POST opens its own session");
}

#[tokio::test]
async fn post_advertises_the_configured_minimum_chunk_length() {
    let s = TestServer::with_config(RegistryConfig {
        chunk_min_length: 1024,
        ..RegistryConfig::default()
    })
    .await;
    let response = s.post_upload("app", "").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&response, "oci-chunk-min-length").as_deref(), Some("1024"));
}

#[tokio::test]
async fn post_then_put_pushes_a_blob_monolithically() {
    let s = TestServer::start().await;
    // Small bodies are stored in one step, larger ones stream through the upload file:
    // both sides of the 1 MiB line behave alike.
    for (seed, size) in [(1, 5000), (31, 1 << 20), (32, (1 << 20) + 1)] {
        let blob = Blob::random(seed, size);
        let loc = s.start_upload("app").await;
        let response = s.put_upload(&loc, &blob.digest, &blob.bytes).await;
        assert_created(&response, "app", &blob.digest);
        assert_pullable(&s, "app", &blob.digest, &blob.bytes).await;
        let status = s.get(&loc).await;
        expect_error(status, 404, "BLOB_UPLOAD_UNKNOWN").await;
    }
}

#[tokio::test]
async fn single_post_with_digest_pushes_the_blob_at_once() {
    let s = TestServer::start().await;
    let blob = Blob::random(2, 700);
    let response = s
        .request(Method::POST, &format!("/v2/app/blobs/uploads/?digest={}", blob.digest))
        .header("content-type", OCTET_STREAM)
        .body(blob.bytes.clone())
        .send()
        .await
        .unwrap();
    assert_created(&response, "app", &blob.digest);
    assert_pullable(&s, "app", &blob.digest, &blob.bytes).await;
}

#[tokio::test]
async fn digest_algorithm_sha512_pushes_a_sha512_blob() {
    let s = TestServer::start().await;
    let data = bytes(3, 4000);
    let digest = sha512(&data);
    let response = s.post_upload("app", "?digest-algorithm=sha512").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let loc = location(&response);
    let response = s.patch_chunk(&loc, 0, &data[..1500]).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = s.put_upload(&location(&response), &digest, &data[1500..]).await;
    assert_created(&response, "app", &digest);
    assert_pullable(&s, "app", &digest, &data).await;
    let head = s.head(&format!("/v2/app/blobs/{digest}")).await;
    assert_eq!(header(&head, "content-length").as_deref(), Some("4000"));

    // A single POST with a sha512 digest needs no algorithm parameter.
    let other = bytes(4, 100);
    let response = s
        .request(
            Method::POST,
            &format!("/v2/app/blobs/uploads/?digest={}", sha512(&other)),
        )
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_created(&response, "app", &sha512(&other));
}

#[tokio::test]
async fn a_sha512_digest_closes_a_session_hashed_as_sha256() {
    let s = TestServer::start().await;
    let data = bytes(5, 3000);
    let loc = s.start_upload("app").await;
    let response = s.patch_chunk(&loc, 0, &data).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = s.put_upload(&loc, &sha512(&data), b"").await;
    assert_created(&response, "app", &sha512(&data));
    assert_pullable(&s, "app", &sha512(&data), &data).await;
}

#[tokio::test]
async fn an_unsupported_digest_algorithm_is_400_digest_invalid() {
    let s = TestServer::start().await;
    let response = s.post_upload("app", "?digest-algorithm=md5").await;
    expect_error(response, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn chunks_stream_across_several_patches() {
    let s = TestServer::start().await;
    let data = bytes(6, 10_000);
    let mut loc = s.start_upload("app").await;
    for (first, last) in [(0, 3332), (3333, 6665), (6666, 9999)] {
        let response = s.patch_chunk(&loc, first, &data[first as usize..=last]).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(header(&response, "range"), Some(format!("0-{last}")));
        assert_eq!(header(&response, "content-length").as_deref(), Some("0"));
        loc = location(&response);
    }
    let response = s.put_upload(&loc, &sha256(&data), b"").await;
    assert_created(&response, "app", &sha256(&data));
    assert_pullable(&s, "app", &sha256(&data), &data).await;
}

#[tokio::test]
async fn the_last_chunk_may_come_with_the_closing_put() {
    let s = TestServer::start().await;
    let data = bytes(7, 3000);
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &data[..1000]).await.status(),
        StatusCode::ACCEPTED
    );
    let response = s
        .request(Method::PUT, &with_query(&loc, "digest", &sha256(&data)))
        .header("content-type", OCTET_STREAM)
        .header("content-range", "1000-2999")
        .body(data[1000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_created(&response, "app", &sha256(&data));
    assert_pullable(&s, "app", &sha256(&data), &data).await;
}

#[tokio::test]
async fn a_streamed_patch_needs_neither_length_nor_range() {
    let s = TestServer::start().await;
    let data = bytes(8, 200_000);
    let loc = s.start_upload("app").await;
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = data.chunks(7_000).map(|c| Ok(c.to_vec())).collect();
    let response = s
        .request(Method::PATCH, &loc)
        .header("content-type", OCTET_STREAM)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&response, "range").as_deref(), Some("0-199999"));
    let response = s.put_upload(&location(&response), &sha256(&data), b"").await;
    assert_created(&response, "app", &sha256(&data));
    assert_pullable(&s, "app", &sha256(&data), &data).await;
}

#[tokio::test]
async fn upload_status_is_204_with_the_range_received() {
    let s = TestServer::start().await;
    let loc = s.start_upload("app").await;
    let response = s.get(&loc).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "range").as_deref(), Some("0-0"));
    assert_eq!(location(&response), loc);

    assert_eq!(
        s.patch_chunk(&loc, 0, &bytes(9, 42)).await.status(),
        StatusCode::ACCEPTED
    );
    let response = s.get(&loc).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "range").as_deref(), Some("0-41"));
    assert_eq!(location(&response), loc);

    // A `?digest=` left on the location (as after a refused closing PUT) is ignored.
    let response = s.get(&with_query(&loc, "digest", &sha256(b"x"))).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "range").as_deref(), Some("0-41"));
}

#[tokio::test]
async fn cancel_ends_the_session() {
    let s = TestServer::start().await;
    let data = bytes(10, 100);
    let loc = s.start_upload("app").await;
    assert_eq!(s.patch_chunk(&loc, 0, &data).await.status(), StatusCode::ACCEPTED);
    let response = s.delete(&loc).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    expect_error(s.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(s.patch_chunk(&loc, 100, b"x").await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(
        s.put_upload(&loc, &sha256(&data), b"").await,
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    expect_error(s.delete(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(
        s.head_status(&format!("/v2/app/blobs/{}", sha256(&data))).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_empty_blob_needs_no_chunk() {
    let s = TestServer::start().await;
    let empty = Blob::new(Vec::new());
    let loc = s.start_upload("app").await;
    let response = s.put_upload(&loc, &empty.digest, b"").await;
    assert_created(&response, "app", &empty.digest);
    assert_pullable(&s, "app", &empty.digest, b"").await;
}

#[tokio::test]
async fn a_session_belongs_to_its_repository() {
    let s = TestServer::start().await;
    let loc = s.start_upload("team/a").await;
    let id = loc.rsplit('/').next().unwrap();
    let elsewhere = format!("/v2/team/b/blobs/uploads/{id}");
    expect_error(s.get(&elsewhere).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(s.patch_chunk(&elsewhere, 0, b"abc").await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(s.get(&loc).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn idle_sessions_expire_after_the_configured_time() {
    let ttl = Duration::from_secs(3600);
    let s = TestServer::with_config(RegistryConfig {
        upload_ttl: ttl,
        ..RegistryConfig::default()
    })
    .await;
    let loc = s.start_upload("app").await;
    assert_eq!(s.registry.expire_uploads(SystemTime::now()).await.unwrap(), 0);
    assert_eq!(s.get(&loc).await.status(), StatusCode::NO_CONTENT);

    let later = SystemTime::now() + ttl + Duration::from_secs(60);
    assert_eq!(s.registry.expire_uploads(later).await.unwrap(), 1);
    expect_error(s.get(&loc).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let uploads = std::fs::read_dir(s.data_dir().join("uploads")).unwrap().count();
    assert_eq!(uploads, 0, "the expired session's bytes are removed too");
}
