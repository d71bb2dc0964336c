//! Two replicas (two registries over one blob directory and one PostgreSQL database)
//! are interchangeable: what one acknowledges the other serves at once, and nothing
//! either keeps in memory outlives a change made through the other.

use crate::client::{location, OCTET_STREAM};
use crate::content::{bytes, sha256, Image};
use crate::harness::TestServer;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn an_upload_started_on_one_replica_continues_on_the_other_and_finishes_on_the_first() {
    let (a, b) = TestServer::replicas().await;
    let blob = bytes(1, 300_000);
    let digest = sha256(&blob);
    let session = a.start_upload("app").await;
    let first = a.patch_chunk(&session, 0, &blob[..100_000]).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = b.patch_chunk(&location(&first), 100_000, &blob[100_000..200_000]).await;
    assert_eq!(
        second.status(),
        StatusCode::ACCEPTED,
        "{}",
        second.text().await.unwrap()
    );
    let status = a.get(&location(&second)).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status.headers()["range"].to_str().unwrap(),
        "0-199999",
        "replica A sees what B received"
    );
    let done = a.put_upload(&location(&second), &digest, &blob[200_000..]).await;
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
    for replica in [&a, &b] {
        let got = replica.get(&format!("/v2/app/blobs/{digest}")).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap().as_ref(), &blob[..]);
    }
}

#[tokio::test]
async fn a_chunk_sent_to_both_replicas_at_the_same_offset_is_recorded_once() {
    let (a, b) = TestServer::replicas().await;
    let blob = bytes(2, 64_000);
    let session = a.start_upload("app").await;
    let first = a.patch_chunk(&session, 0, &blob[..32_000]).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    // The same next chunk through both replicas, one after the other: the second finds
    // the session moved on and is refused with the range the session has.
    let next = location(&first);
    assert_eq!(
        a.patch_chunk(&next, 32_000, &blob[32_000..]).await.status(),
        StatusCode::ACCEPTED
    );
    let again = b.patch_chunk(&next, 32_000, &blob[32_000..]).await;
    assert_eq!(again.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let done = b
        .request(Method::PUT, &crate::client::with_query(&next, "digest", &sha256(&blob)))
        .header("content-type", OCTET_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
}

#[tokio::test]
async fn tags_pushed_moved_and_deleted_on_one_replica_are_seen_on_the_other_at_once() {
    let (a, b) = TestServer::replicas().await;
    let (one, two) = (Image::new(3), Image::new(4));
    a.push_image("app", "v1", &one).await;
    // B reads the tag (and would cache it, if it cached tags).
    let got = b.get("/v2/app/manifests/v1").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().as_ref(), &one.manifest.bytes[..]);
    assert_eq!(b.tags("app").await, ["v1"]);

    a.push_image("app", "v1", &two).await;
    let moved = b.get("/v2/app/manifests/v1").await;
    assert_eq!(
        moved.bytes().await.unwrap().as_ref(),
        &two.manifest.bytes[..],
        "B serves the tag where A moved it"
    );

    assert_eq!(a.delete("/v2/app/manifests/v1").await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.get("/v2/app/manifests/v1").await.status(), StatusCode::NOT_FOUND);
    assert!(b.tags("app").await.is_empty());
}

#[tokio::test]
async fn a_manifest_deleted_on_one_replica_is_gone_on_the_other_at_once() {
    let (a, b) = TestServer::replicas().await;
    let image = Image::new(5);
    a.push_image("app", "v1", &image).await;
    let by_digest = format!("/v2/app/manifests/{}", image.manifest.digest);
    assert_eq!(b.get(&by_digest).await.status(), StatusCode::OK);
    assert_eq!(b.head_status(&by_digest).await, StatusCode::OK);
    assert_eq!(a.delete(&by_digest).await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.get(&by_digest).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.head_status(&by_digest).await, StatusCode::NOT_FOUND);
    assert_eq!(b.get("/v2/app/manifests/v1").await.status(), StatusCode::NOT_FOUND);

    // A blob unlinked through A is no longer served through B either.
    let layer = format!("/v2/app/blobs/{}", image.layer.digest);
    assert_eq!(b.head_status(&layer).await, StatusCode::OK);
    assert_eq!(a.delete(&layer).await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.head_status(&layer).await, StatusCode::NOT_FOUND);
    assert_eq!(b.get(&layer).await.status(), StatusCode::NOT_FOUND);
}
