//! Manifest pushes the registry must refuse, each with the spec's status and code, and
//! after each refusal nothing visible: no manifest by digest, no tag, no new repository.

use crate::client::expect_error;
use crate::content::{image_json, index_json, Blob, Image, Manifest, OCI_INDEX, OCI_MANIFEST};
use crate::harness::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wharf_registry::RegistryConfig;

/// Asserts neither `tag` nor the manifest's digest resolves in `repo`.
async fn assert_not_visible(s: &TestServer, repo: &str, tag: &str, manifest: &Manifest) {
    for reference in [tag, manifest.digest.as_str()] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(!s.tags(repo).await.contains(&tag.to_string()));
}

/// Pushes `manifest` as `repo:tag`; asserts the refusal and that nothing appeared.
async fn assert_refused(s: &TestServer, repo: &str, tag: &str, manifest: &Manifest, status: u16, code: &str) {
    expect_error(s.put_manifest(repo, tag, manifest).await, status, code).await;
    assert_not_visible(s, repo, tag, manifest).await;
}

/// A server whose `app` holds the blobs of `Image::new(1)`.
async fn server_with_blobs() -> (TestServer, Image) {
    let s = TestServer::start().await;
    let image = Image::new(1);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    (s, image)
}

#[tokio::test]
async fn malformed_json_is_400_manifest_invalid() {
    let s = TestServer::start().await;
    for body in [&b"{not json"[..], b"[]", b"", b"\"text\""] {
        let manifest = Manifest::raw(body.to_vec(), OCI_MANIFEST);
        assert_refused(&s, "fresh", "v1", &manifest, 400, "MANIFEST_INVALID").await;
    }
    let response = s.get("/v2/fresh/tags/list").await;
    expect_error(response, 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn a_wrong_schema_version_is_400_manifest_invalid() {
    let (s, image) = server_with_blobs().await;
    for version in [json!(1), json!(3), json!("2"), json!(null)] {
        let mut json = image_json(&image.config, &[&image.layer]);
        json["schemaVersion"] = version;
        assert_refused(&s, "app", "v1", &Manifest::new(&json), 400, "MANIFEST_INVALID").await;
    }
}

#[tokio::test]
async fn content_type_differing_from_media_type_is_400_manifest_invalid() {
    let (s, image) = server_with_blobs().await;
    let mut manifest = image.manifest.clone();
    manifest.media_type = OCI_INDEX.to_string();
    assert_refused(&s, "app", "v1", &manifest, 400, "MANIFEST_INVALID").await;
}

#[tokio::test]
async fn unsupported_or_incomplete_manifests_are_400_manifest_invalid() {
    let (s, image) = server_with_blobs().await;
    let signed = Manifest::raw(
        image.manifest.bytes.clone(),
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    );
    assert_refused(&s, "app", "v1", &signed, 400, "MANIFEST_INVALID").await;
    let mut no_layers = image_json(&image.config, &[]);
    no_layers.as_object_mut().unwrap().remove("layers");
    assert_refused(&s, "app", "v1", &Manifest::new(&no_layers), 400, "MANIFEST_INVALID").await;
    let mut bad_digest = image_json(&image.config, &[]);
    bad_digest["config"]["digest"] = json!("sha256:nothex");
    assert_refused(&s, "app", "v1", &Manifest::new(&bad_digest), 400, "MANIFEST_INVALID").await;
}

#[tokio::test]
async fn a_missing_blob_is_400_manifest_blob_unknown() {
    let (s, image) = server_with_blobs().await;
    let missing = Blob::random(2, 77);
    let manifest = Manifest::new(&image_json(&image.config, &[&image.layer, &missing]));
    let response = s.put_manifest("app", "v1", &manifest).await;
    let body = expect_error(response, 400, "MANIFEST_BLOB_UNKNOWN").await;
    assert!(
        body.to_string().contains(&missing.digest),
        "the error names the blob: {body}"
    );
    assert_not_visible(&s, "app", "v1", &manifest).await;

    let index = Manifest::new(&index_json(&[&Image::new(3).manifest]));
    assert_refused(&s, "app", "multi", &index, 400, "MANIFEST_BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn a_descriptor_size_unlike_the_blob_is_400_manifest_invalid() {
    let (s, image) = server_with_blobs().await;
    let mut json = image_json(&image.config, &[&image.layer]);
    json["layers"][0]["size"] = json!(image.layer.bytes.len() + 1);
    assert_refused(&s, "app", "v1", &Manifest::new(&json), 400, "MANIFEST_INVALID").await;
}

#[tokio::test]
async fn a_manifest_over_the_size_limit_is_413() {
    let s = TestServer::with_config(RegistryConfig {
        max_manifest_size: 1024,
        ..RegistryConfig::default()
    })
    .await;
    let image = Image::new(4);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let mut json = image_json(&image.config, &[&image.layer]);
    json["annotations"] = json!({"padding": "x".repeat(2000)});
    let large = Manifest::new(&json);
    assert_refused(&s, "app", "big", &large, 413, "MANIFEST_INVALID").await;

    // Without Content-Length (chunked), the limit holds while reading.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = large.bytes.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let response = s
        .request(Method::PUT, "/v2/app/manifests/big")
        .header("content-type", OCI_MANIFEST)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "MANIFEST_INVALID").await;
    assert_not_visible(&s, "app", "big", &large).await;
    // Below the limit is fine.
    s.push_manifest("app", "small", &image.manifest).await;
}

#[tokio::test]
async fn put_by_a_digest_the_bytes_do_not_have_is_400_digest_invalid() {
    let (s, image) = server_with_blobs().await;
    let mut padded = image.manifest.bytes.clone();
    padded.extend_from_slice(b"  ");
    let manifest = Manifest::raw(padded, OCI_MANIFEST);
    let response = s.put_manifest("app", &image.manifest.digest, &manifest).await;
    expect_error(response, 400, "DIGEST_INVALID").await;
    assert_not_visible(&s, "app", "v1", &manifest).await;
    let path = format!("/v2/app/manifests/{}", image.manifest.digest);
    assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn put_by_a_malformed_digest_is_400_digest_invalid() {
    let (s, image) = server_with_blobs().await;
    let response = s.put_manifest("app", "sha256:baddigeststring", &image.manifest).await;
    expect_error(response, 400, "DIGEST_INVALID").await;
    let status = s.get("/v2/app/manifests/sha256:baddigeststring").await.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    assert_not_visible(&s, "app", "v1", &image.manifest).await;
}

#[tokio::test]
async fn an_invalid_tag_is_400_tag_invalid() {
    let (s, image) = server_with_blobs().await;
    let long = "t".repeat(129);
    for tag in ["-bad", ".bad", long.as_str()] {
        let response = s.put_manifest("app", tag, &image.manifest).await;
        expect_error(response, 400, "TAG_INVALID").await;
    }
    let reference = format!("{}?tag=ok&tag=not%2Fok", image.manifest.digest);
    let response = s.put_manifest("app", &reference, &image.manifest).await;
    expect_error(response, 400, "TAG_INVALID").await;
    assert_not_visible(&s, "app", "ok", &image.manifest).await;
}

/// A manifest with thousands of unknown layers gets an answer that names the first ten
/// and counts the rest, not one that repeats every digest.
#[tokio::test]
async fn an_error_about_many_missing_blobs_names_ten_and_counts_the_rest() {
    let (s, image) = server_with_blobs().await;
    const LAYERS: usize = 20_000;
    let layers: Vec<serde_json::Value> = (0..LAYERS)
        .map(|i| json!({"mediaType": crate::content::OCI_LAYER, "digest": crate::content::unknown_digest(i as u64), "size": 1}))
        .collect();
    let mut json = image_json(&image.config, &[]);
    json["layers"] = json!(layers);
    let manifest = Manifest::raw(serde_json::to_vec(&json).unwrap(), OCI_MANIFEST);
    assert!(
        manifest.bytes.len() > 2 << 20,
        "a manifest of {} bytes",
        manifest.bytes.len()
    );
    let response = s.put_manifest("app", "many", &manifest).await;
    let body = expect_error(response, 400, "MANIFEST_BLOB_UNKNOWN").await;
    let text = body.to_string();
    assert!(text.len() < 4096, "an error body of {} bytes", text.len());
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{LAYERS} blobs or manifests")), "{message}");
    assert!(message.contains(&format!("and {} more", LAYERS - 10)), "{message}");
    assert!(message.contains(&crate::content::unknown_digest(0)), "{message}");
    let detail = &body["errors"][0]["detail"];
    assert_eq!(detail["missing"].as_array().unwrap().len(), 10, "{detail}");
    assert_eq!(detail["missing_count"], LAYERS, "{detail}");
    assert_not_visible(&s, "app", "many", &manifest).await;
}

/// Errors that quote what the client sent stay small when what it sent is large: a
/// mediaType of a megabyte, a digest query parameter of 30 KB.
#[tokio::test]
async fn errors_quoting_large_input_are_cut_short() {
    let (s, image) = server_with_blobs().await;
    let mut json = image_json(&image.config, &[&image.layer]);
    json["mediaType"] = json!("x".repeat(1 << 20));
    let manifest = Manifest::raw(serde_json::to_vec(&json).unwrap(), OCI_MANIFEST);
    let body = expect_error(s.put_manifest("app", "v1", &manifest).await, 400, "MANIFEST_INVALID").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.len() < 5000, "a message of {} bytes", message.len());
    assert!(message.contains("more bytes not shown"), "{message}");

    let long_digest = format!("sha256:{}", "a".repeat(30_000));
    let response = s.post_upload("app", &format!("?digest={long_digest}")).await;
    let body = expect_error(response, 400, "DIGEST_INVALID").await;
    assert!(
        body.to_string().len() < 5000,
        "an error body of {} bytes",
        body.to_string().len()
    );
}
