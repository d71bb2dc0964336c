//! Clients racing each other: the same blob pushed twice at once, one tag pushed with
//! two manifests at once, and two chunks sent to one session at once.

use crate::client::header;
use crate::content::{bytes, sha256, Blob, Image};
use crate::harness::TestServer;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_blob_pushed_by_two_clients_at_once_is_stored_intact() {
    let s = TestServer::start().await;
    let blob = Blob::random(1, 2 * 1024 * 1024);
    for round in 0..3 {
        let repo = format!("app{round}");
        let (a, b) = tokio::join!(s.start_upload(&repo), s.start_upload(&repo));
        let (ra, rb) = tokio::join!(
            s.put_upload(&a, &blob.digest, &blob.bytes),
            s.put_upload(&b, &blob.digest, &blob.bytes)
        );
        assert_eq!(ra.status(), StatusCode::CREATED);
        assert_eq!(rb.status(), StatusCode::CREATED);
        let pulled = s.get(&format!("/v2/{repo}/blobs/{}", blob.digest)).await;
        assert_eq!(header(&pulled, "content-length"), Some(blob.bytes.len().to_string()));
        let pulled = pulled.bytes().await.unwrap();
        assert_eq!(sha256(&pulled), blob.digest, "the stored blob is intact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_tag_pushed_with_two_manifests_at_once_resolves_to_one_of_them() {
    let s = TestServer::start().await;
    let (a, b) = (Image::new(1), Image::new(2));
    for image in [&a, &b] {
        s.push_blob("app", &image.config).await;
        s.push_blob("app", &image.layer).await;
    }
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(
            s.put_manifest("app", "latest", &a.manifest),
            s.put_manifest("app", "latest", &b.manifest)
        );
        assert_eq!(ra.status(), StatusCode::CREATED);
        assert_eq!(rb.status(), StatusCode::CREATED);

        let head = s.head("/v2/app/manifests/latest").await;
        let digest = header(&head, "docker-content-digest").unwrap();
        assert!(digest == a.manifest.digest || digest == b.manifest.digest, "{digest}");
        let pulled = s.get("/v2/app/manifests/latest").await;
        assert_eq!(header(&pulled, "docker-content-digest"), Some(digest.clone()));
        let pulled = pulled.bytes().await.unwrap();
        assert_eq!(sha256(&pulled), digest, "the tag serves the manifest it names");
        assert_eq!(s.tags("app").await, ["latest"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_chunks_at_the_same_offset_of_one_session_are_taken_once() {
    let s = TestServer::start().await;
    let (first, second) = (bytes(3, 100_000), bytes(4, 100_000));
    let loc = s.start_upload("app").await;
    let (ra, rb) = tokio::join!(s.patch_chunk(&loc, 0, &first), s.patch_chunk(&loc, 0, &second));
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 416], "one chunk is taken, the other refused");

    let status = s.get(&loc).await;
    assert_eq!(header(&status, "range").as_deref(), Some("0-99999"));
    let winner = if ra.status() == StatusCode::ACCEPTED {
        &first
    } else {
        &second
    };
    let response = s.put_upload(&loc, &sha256(winner), b"").await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the session holds exactly the winning chunk"
    );
}
