//! end-9 (`DELETE` a tag or a manifest) and end-10 (`DELETE` a blob), and each kind of
//! delete switched off in the configuration (405 UNSUPPORTED).

use crate::client::expect_error;
use crate::content::{unknown_digest, Blob, Image};
use crate::harness::TestServer;
use reqwest::StatusCode;
use wharf_registry::RegistryConfig;

#[tokio::test]
async fn deleting_a_tag_removes_only_that_tag() {
    let s = TestServer::start().await;
    let image = Image::new(1);
    s.push_image("app", "v1", &image).await;
    s.push_manifest("app", "v2", &image.manifest).await;

    let response = s.delete("/v2/app/manifests/v1").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    expect_error(s.get("/v2/app/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    assert_eq!(s.tags("app").await, ["v2"]);
    let by_digest = format!("/v2/app/manifests/{}", image.manifest.digest);
    assert_eq!(s.head_status(&by_digest).await, StatusCode::OK);
    expect_error(s.delete("/v2/app/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn deleting_a_manifest_removes_it_and_its_tags() {
    let s = TestServer::start().await;
    let (image, other) = (Image::new(2), Image::new(3));
    s.push_image("app", "v1", &image).await;
    s.push_manifest("app", "v1-alias", &image.manifest).await;
    s.push_image("app", "keep", &other).await;

    let path = format!("/v2/app/manifests/{}", image.manifest.digest);
    let response = s.delete(&path).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    expect_error(s.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
    assert_eq!(s.head_status("/v2/app/manifests/v1").await, StatusCode::NOT_FOUND);
    assert_eq!(s.tags("app").await, ["keep"]);
    // Its blobs stay: deleting a manifest does not cascade.
    let layer = format!("/v2/app/blobs/{}", image.layer.digest);
    assert_eq!(s.head_status(&layer).await, StatusCode::OK);
    expect_error(s.delete(&path).await, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn deleting_a_manifest_of_an_unknown_repository_is_404() {
    let s = TestServer::start().await;
    let path = format!("/v2/nowhere/manifests/{}", unknown_digest(1));
    expect_error(s.delete(&path).await, 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn deleting_a_blob_is_202_and_takes_effect_at_once() {
    let s = TestServer::start().await;
    let blob = Blob::random(4, 100);
    s.push_blob("app", &blob).await;
    let path = format!("/v2/app/blobs/{}", blob.digest);
    let response = s.delete(&path).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND);
    expect_error(s.get(&path).await, 404, "BLOB_UNKNOWN").await;
    expect_error(s.delete(&path).await, 404, "BLOB_UNKNOWN").await;

    // It can be pushed again.
    s.push_blob("app", &blob).await;
    let response = s.get(&path).await;
    assert_eq!(response.bytes().await.unwrap(), blob.bytes);
}

#[tokio::test]
async fn a_blob_delete_affects_one_repository_only() {
    let s = TestServer::start().await;
    let blob = Blob::random(5, 100);
    s.push_blob("repo1", &blob).await;
    let mounted = s
        .post_upload("repo2", &format!("?mount={}&from=repo1", blob.digest))
        .await;
    assert_eq!(mounted.status(), StatusCode::CREATED);

    assert_eq!(
        s.delete(&format!("/v2/repo1/blobs/{}", blob.digest)).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.head_status(&format!("/v2/repo1/blobs/{}", blob.digest)).await,
        StatusCode::NOT_FOUND
    );
    let response = s.get(&format!("/v2/repo2/blobs/{}", blob.digest)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), blob.bytes);
}

/// A server holding image `v1` in `app`, with `config` applied.
async fn server_with(config: RegistryConfig) -> (TestServer, Image) {
    let s = TestServer::with_config(config).await;
    let image = Image::new(6);
    s.push_image("app", "v1", &image).await;
    (s, image)
}

#[tokio::test]
async fn blob_deletes_switched_off_are_405_unsupported() {
    let (s, image) = server_with(RegistryConfig {
        delete_blobs: false,
        ..RegistryConfig::default()
    })
    .await;
    let path = format!("/v2/app/blobs/{}", image.layer.digest);
    expect_error(s.delete(&path).await, 405, "UNSUPPORTED").await;
    assert_eq!(s.head_status(&path).await, StatusCode::OK);
}

#[tokio::test]
async fn manifest_deletes_switched_off_are_405_unsupported() {
    let (s, image) = server_with(RegistryConfig {
        delete_manifests: false,
        ..RegistryConfig::default()
    })
    .await;
    let path = format!("/v2/app/manifests/{}", image.manifest.digest);
    expect_error(s.delete(&path).await, 405, "UNSUPPORTED").await;
    assert_eq!(s.head_status(&path).await, StatusCode::OK);
    // Tags may still be deleted.
    assert_eq!(s.delete("/v2/app/manifests/v1").await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn tag_deletes_switched_off_are_405_unsupported() {
    let (s, image) = server_with(RegistryConfig {
        delete_tags: false,
        ..RegistryConfig::default()
    })
    .await;
    expect_error(s.delete("/v2/app/manifests/v1").await, 405, "UNSUPPORTED").await;
    assert_eq!(s.tags("app").await, ["v1"]);
    let path = format!("/v2/app/manifests/{}", image.manifest.digest);
    assert_eq!(s.delete(&path).await.status(), StatusCode::ACCEPTED);
}
