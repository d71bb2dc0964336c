//! end-11: `POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<other>]`: 201 when the
//! blob can be linked, else 202 and an upload session to push it through.

use crate::client::{expect_error, header, location};
use crate::content::Blob;
use crate::harness::TestServer;
use reqwest::StatusCode;
use wharf_registry::RegistryConfig;

/// Asserts a 201 mount: the Location is the blob in `repo`, and it serves the bytes.
async fn assert_mounted(s: &TestServer, response: reqwest::Response, repo: &str, blob: &Blob) {
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(location(&response), format!("/v2/{repo}/blobs/{}", blob.digest));
    assert_eq!(header(&response, "docker-content-digest"), Some(blob.digest.clone()));
    let pulled = s.get(&location(&response)).await;
    assert_eq!(pulled.status(), StatusCode::OK);
    assert_eq!(pulled.bytes().await.unwrap(), blob.bytes);
}

/// Asserts a 202 with a fresh session in `repo`, and finishes the push through it.
async fn assert_session_and_push(s: &TestServer, response: reqwest::Response, repo: &str, blob: &Blob) {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let loc = location(&response);
    assert!(loc.starts_with(&format!("/v2/{repo}/blobs/uploads/")), "{loc}");
    assert_eq!(header(&response, "range").as_deref(), Some("0-0"));
    let put = s.put_upload(&loc, &blob.digest, &blob.bytes).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(
        s.head_status(&format!("/v2/{repo}/blobs/{}", blob.digest)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn mount_from_a_repository_holding_the_blob_is_201() {
    let s = TestServer::start().await;
    let blob = Blob::random(1, 900);
    s.push_blob("source/repo", &blob).await;
    let query = format!("?mount={}&from=source/repo", blob.digest);
    let response = s.post_upload("target/repo", &query).await;
    assert_mounted(&s, response, "target/repo", &blob).await;
}

#[tokio::test]
async fn mount_of_an_unknown_blob_is_202_with_a_session() {
    let s = TestServer::start().await;
    s.push_blob("source", &Blob::random(2, 10)).await;
    let blob = Blob::random(3, 500);
    let response = s
        .post_upload("target", &format!("?mount={}&from=source", blob.digest))
        .await;
    assert_session_and_push(&s, response, "target", &blob).await;
}

#[tokio::test]
async fn mount_from_a_repository_lacking_the_blob_is_202() {
    let s = TestServer::start().await;
    let blob = Blob::random(4, 500);
    s.push_blob("holder", &blob).await;
    s.push_blob("source", &Blob::random(5, 10)).await;
    let response = s
        .post_upload("target", &format!("?mount={}&from=source", blob.digest))
        .await;
    assert_session_and_push(&s, response, "target", &blob).await;
}

#[tokio::test]
async fn mount_without_from_links_a_blob_the_registry_holds() {
    let s = TestServer::start().await;
    let blob = Blob::random(6, 800);
    s.push_blob("somewhere/else", &blob).await;
    let response = s.post_upload("target", &format!("?mount={}", blob.digest)).await;
    assert_mounted(&s, response, "target", &blob).await;

    let missing = Blob::random(7, 80);
    let response = s.post_upload("target", &format!("?mount={}", missing.digest)).await;
    assert_session_and_push(&s, response, "target", &missing).await;
}

#[tokio::test]
async fn mount_without_from_is_a_plain_session_when_switched_off() {
    let s = TestServer::with_config(RegistryConfig {
        mount_without_from: false,
        ..RegistryConfig::default()
    })
    .await;
    let blob = Blob::random(8, 800);
    s.push_blob("somewhere", &blob).await;
    let response = s.post_upload("target", &format!("?mount={}", blob.digest)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        s.head_status(&format!("/v2/target/blobs/{}", blob.digest)).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn mount_with_an_invalid_from_or_digest_is_400() {
    let s = TestServer::start().await;
    let blob = Blob::random(9, 10);
    s.push_blob("source", &blob).await;
    let response = s
        .post_upload("target", &format!("?mount={}&from=Bad..Name", blob.digest))
        .await;
    expect_error(response, 400, "NAME_INVALID").await;
    let response = s.post_upload("target", "?mount=sha256:nothex&from=source").await;
    expect_error(response, 400, "DIGEST_INVALID").await;
    assert_eq!(
        s.head_status(&format!("/v2/target/blobs/{}", blob.digest)).await,
        StatusCode::NOT_FOUND
    );
}
