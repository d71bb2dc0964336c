//! Blobs damaged on disk after they were stored (a flipped byte, a truncated or removed
//! file, a changed small blob in the pack): never served as valid. HEAD and GET answer
//! 404 BLOB_UNKNOWN saying the blob is damaged, the bytes are set aside in
//! `quarantine/`, a mount of it is refused, and the next push of the digest repairs it.

use crate::client::{expect_error, header};
use crate::content::Blob;
use crate::harness::{files_under, TestServer};
use reqwest::StatusCode;
use std::path::PathBuf;
use wharf_registry::RegistryConfig;

/// A blob large enough to be a file of its own (small ones are packed).
const LARGE: usize = 300 * 1024;

fn blob_file(s: &TestServer, blob: &Blob) -> PathBuf {
    let hex = blob.digest.strip_prefix("sha256:").unwrap();
    s.data_dir().join("blobs/sha256").join(&hex[..2]).join(hex)
}

fn blob_path(repo: &str, blob: &Blob) -> String {
    format!("/v2/{repo}/blobs/{}", blob.digest)
}

/// Asserts HEAD is 404 and GET is 404 BLOB_UNKNOWN with a message saying it is damaged.
async fn assert_answered_damaged(s: &TestServer, repo: &str, blob: &Blob) {
    let path = blob_path(repo, blob);
    assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND, "HEAD {path}");
    let body = expect_error(s.get(&path).await, 404, "BLOB_UNKNOWN").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("damaged"), "{message}");
}

/// Pushes `blob` again and asserts it is served whole from then on.
async fn assert_repaired_by_a_push(s: &TestServer, repo: &str, blob: &Blob) {
    s.push_blob(repo, blob).await;
    let response = s.get(&blob_path(repo, blob)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.bytes().await.unwrap() == blob.bytes,
        "the repaired blob's bytes"
    );
    assert_eq!(s.head_status(&blob_path(repo, blob)).await, StatusCode::OK);
}

fn quarantined(s: &TestServer) -> Vec<String> {
    let dir = s.data_dir().join("quarantine");
    if dir.exists() {
        files_under(&dir)
    } else {
        Vec::new()
    }
}

#[tokio::test]
async fn a_truncated_blob_file_is_answered_as_damaged_for_head_and_get_and_a_push_repairs_it() {
    let s = TestServer::start().await;
    let blob = Blob::random(61, LARGE);
    s.push_blob("app", &blob).await;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(blob_file(&s, &blob))
        .unwrap();
    file.set_len(1000).unwrap();
    assert_answered_damaged(&s, "app", &blob).await;
    assert_eq!(quarantined(&s).len(), 1, "the short file is set aside");
    assert_repaired_by_a_push(&s, "app", &blob).await;
}

#[tokio::test]
async fn a_removed_blob_file_is_answered_as_damaged_is_not_mounted_and_a_push_repairs_it() {
    let s = TestServer::start().await;
    let blob = Blob::random(62, LARGE);
    s.push_blob("app", &blob).await;
    std::fs::remove_file(blob_file(&s, &blob)).unwrap();
    assert_answered_damaged(&s, "app", &blob).await;
    // A mount of it does not claim it exists: the client gets a session to upload into.
    let response = s
        .post_upload("other", &format!("?mount={}&from=app", blob.digest))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(s.head_status(&blob_path("other", &blob)).await, StatusCode::NOT_FOUND);
    assert_repaired_by_a_push(&s, "app", &blob).await;
}

#[tokio::test]
async fn a_flipped_byte_breaks_the_download_when_reads_are_verified_and_a_push_repairs_it() {
    let s = TestServer::with_config(RegistryConfig {
        verify_blob_reads: true,
        ..RegistryConfig::default()
    })
    .await;
    let blob = Blob::random(63, 9 << 20);
    s.push_blob("app", &blob).await;
    let path = blob_file(&s, &blob);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(8 << 20) + 17] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let response = s.get(&blob_path("app", &blob)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the damage is found only as the body streams"
    );
    let body = response.bytes().await;
    assert!(
        body.is_err(),
        "the client sees a broken download, not {} bytes",
        body.map_or(0, |b| b.len())
    );
    assert_answered_damaged(&s, "app", &blob).await;
    assert_eq!(quarantined(&s).len(), 1);
    assert_repaired_by_a_push(&s, "app", &blob).await;
    // A range of the repaired blob is not hashed, and is served.
    let part = s
        .request(reqwest::Method::GET, &blob_path("app", &blob))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap(), blob.bytes[10..20]);
}

#[tokio::test]
async fn a_changed_small_blob_in_the_pack_is_found_when_loaded_and_a_push_repairs_it() {
    let s = TestServer::start().await;
    let blob = Blob::random(64, 4000);
    s.push_blob("app", &blob).await;
    let pack = rusqlite::Connection::open(s.data_dir().join("blobs/small.sqlite")).unwrap();
    let changed = pack
        .execute(
            "UPDATE blobs SET bytes = ?1 WHERE digest = ?2",
            rusqlite::params![vec![7u8; 4000], blob.digest],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(pack);
    assert_answered_damaged(&s, "app", &blob).await;
    assert_eq!(quarantined(&s).len(), 1, "the packed bytes are set aside");
    assert_repaired_by_a_push(&s, "app", &blob).await;
    assert_eq!(
        header(&s.get(&blob_path("app", &blob)).await, "docker-content-digest").unwrap(),
        blob.digest
    );
}
