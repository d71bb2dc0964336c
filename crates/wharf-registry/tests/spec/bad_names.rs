//! Repository names outside the spec's grammar (`..`, `%2e%2e`, `%2f`, absolute, longer
//! than 255 characters, NUL, upper case) and names the operator's pattern refuses: 400
//! NAME_INVALID on every endpoint, and nothing written anywhere, least of all outside the
//! data directory.

use crate::client::expect_error;
use crate::content::{sha256, Image};
use crate::harness::{files_under, TestServer};
use crate::raw;
use regex::Regex;
use reqwest::StatusCode;
use std::path::Path;
use wharf_registry::RegistryConfig;

/// Names as they appear in a request path, each invalid.
fn bad_names() -> Vec<String> {
    vec![
        "..".to_string(),
        "a/..".to_string(),
        "../../etc".to_string(),
        "%2e%2e".to_string(),
        "a/%2e%2e/%2e%2e/b".to_string(),
        "a%2fb".to_string(),
        "..%2f..%2fetc".to_string(),
        "/abs".to_string(),
        "/".to_string(),
        "a".repeat(256),
        "a%00b".to_string(),
        "App".to_string(),
        "a/./b".to_string(),
    ]
}

/// How many small blobs the file store's pack database holds (none while it was never
/// created).
fn packed_blobs(pack: &Path) -> i64 {
    if !pack.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open_with_flags(pack, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT count(*) FROM blobs", [], |row| row.get(0))
        .unwrap()
}

/// Every kind of request, against repository `name`: (method, path, body).
fn requests_naming(name: &str, manifest: &[u8]) -> Vec<(&'static str, String, Vec<u8>)> {
    let digest = sha256(b"payload");
    let session = "3f1c9a52-0000-4000-8000-000000000000";
    vec![
        ("GET", format!("/v2/{name}/tags/list"), vec![]),
        ("GET", format!("/v2/{name}/manifests/latest"), vec![]),
        ("HEAD", format!("/v2/{name}/blobs/{digest}"), vec![]),
        ("GET", format!("/v2/{name}/referrers/{digest}"), vec![]),
        ("DELETE", format!("/v2/{name}/blobs/{digest}"), vec![]),
        (
            "POST",
            format!("/v2/{name}/blobs/uploads/?digest={digest}"),
            b"payload".to_vec(),
        ),
        ("POST", format!("/v2/{name}/blobs/uploads/"), vec![]),
        ("PUT", format!("/v2/{name}/manifests/latest"), manifest.to_vec()),
        ("DELETE", format!("/v2/{name}/manifests/latest"), vec![]),
        (
            "PATCH",
            format!("/v2/{name}/blobs/uploads/{session}"),
            b"payload".to_vec(),
        ),
        (
            "PUT",
            format!("/v2/{name}/blobs/uploads/{session}?digest={digest}"),
            b"payload".to_vec(),
        ),
    ]
}

#[tokio::test]
async fn invalid_names_are_400_name_invalid_on_every_endpoint() {
    let s = TestServer::start().await;
    let manifest = Image::new(1).manifest;
    for name in bad_names() {
        for (method, path, body) in requests_naming(&name, &manifest.bytes) {
            let length = body.len().to_string();
            let headers = [
                ("Content-Type", manifest.media_type.as_str()),
                ("Content-Length", &length),
            ];
            let answer = raw::send(s.addr, method, &path, &headers, &body)
                .await
                .expect("an answer");
            assert_eq!(answer.status, 400, "{method} {path}: {answer:?}");
            if method != "HEAD" {
                assert_eq!(answer.error_code(), "NAME_INVALID", "{method} {path}");
            }
        }
    }
    assert_nothing_written(&s).await;
}

/// Nothing beside the data directory, no blob or upload in it, and an empty catalog.
async fn assert_nothing_written(s: &TestServer) {
    let outside: Vec<_> = std::fs::read_dir(s.outer_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(outside, ["data"], "files appeared beside the data directory");
    let data = s.data_dir();
    let blob_files: Vec<String> = files_under(&data.join("blobs"))
        .into_iter()
        .filter(|f| !f.contains("small.sqlite"))
        .collect();
    assert!(blob_files.is_empty(), "{blob_files:?}");
    assert_eq!(
        packed_blobs(&data.join("blobs/small.sqlite")),
        0,
        "a small blob was packed"
    );
    assert!(files_under(&data.join("uploads")).is_empty());
    let response = s.get("/v2/_catalog").await;
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["repositories"], serde_json::json!([]));
}

#[tokio::test]
async fn a_name_of_255_characters_is_valid() {
    let s = TestServer::start().await;
    let name = "a".repeat(255);
    expect_error(s.get(&format!("/v2/{name}/tags/list")).await, 404, "NAME_UNKNOWN").await;
    let name = format!("{}/{}", "b".repeat(127), "c".repeat(128));
    assert_eq!(name.len(), 256);
    expect_error(s.get(&format!("/v2/{name}/tags/list")).await, 400, "NAME_INVALID").await;
}

#[tokio::test]
async fn names_the_operator_pattern_refuses_are_name_invalid() {
    let s = TestServer::with_config(RegistryConfig {
        name_pattern: Some(Regex::new("^team-a/").unwrap()),
        ..RegistryConfig::default()
    })
    .await;
    let image = Image::new(2);
    s.push_image("team-a/app", "v1", &image).await;
    let response = s.post_upload("team-b/app", "").await;
    expect_error(response, 400, "NAME_INVALID").await;
    let response = s.put_manifest("team-b/app", "v1", &image.manifest).await;
    expect_error(response, 400, "NAME_INVALID").await;
    expect_error(s.get("/v2/team-b/app/tags/list").await, 400, "NAME_INVALID").await;

    // Nor may a mount read from a repository outside the pattern.
    let query = format!("?mount={}&from=team-b/app", image.layer.digest);
    let response = s.post_upload("team-a/other", &query).await;
    expect_error(response, 400, "NAME_INVALID").await;
    assert_eq!(
        s.head_status(&format!("/v2/team-a/other/blobs/{}", image.layer.digest))
            .await,
        StatusCode::NOT_FOUND
    );
}
