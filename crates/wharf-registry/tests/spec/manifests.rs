//! end-3 (`GET`/`HEAD` a manifest by tag or digest), end-7a (`PUT` by tag or digest) and
//! end-7b (`PUT` by digest with `?tag=` parameters and one `OCI-Tag` per tag).

use crate::client::{expect_error, header, header_values, location};
use crate::content::{
    image_json, index_json, sha512, Blob, Image, Manifest, DOCKER_CONFIG, DOCKER_MANIFEST, OCI_INDEX,
};
use crate::harness::TestServer;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use wharf_registry::RegistryConfig;

/// Asserts GET and HEAD of `/v2/<repo>/manifests/<reference>` serve `manifest` exactly,
/// with `digest` in `Docker-Content-Digest`.
async fn assert_served(s: &TestServer, repo: &str, reference: &str, manifest: &Manifest, digest: &str) {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let length = manifest.bytes.len().to_string();
    let response = s
        .client
        .get(s.url(&path))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(header(&response, "content-type"), Some(manifest.media_type.clone()));
    assert_eq!(header(&response, "content-length"), Some(length.clone()));
    assert_eq!(header(&response, "docker-content-digest").as_deref(), Some(digest));
    assert_eq!(response.bytes().await.unwrap(), manifest.bytes, "{path}: exact bytes");

    let response = s.head(&path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), Some(manifest.media_type.clone()));
    assert_eq!(header(&response, "content-length"), Some(length));
    assert_eq!(header(&response, "docker-content-digest").as_deref(), Some(digest));
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn put_by_tag_is_201_and_pullable_by_tag_and_digest() {
    let s = TestServer::start().await;
    let image = Image::new(1);
    s.push_blob("org/app", &image.config).await;
    s.push_blob("org/app", &image.layer).await;
    let response = s.put_manifest("org/app", "v1", &image.manifest).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let digest = &image.manifest.digest;
    assert_eq!(location(&response), format!("/v2/org/app/manifests/{digest}"));
    assert_eq!(header(&response, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(header_values(&response, "oci-tag"), ["v1"]);
    assert_eq!(header(&response, "oci-subject"), None);

    assert_served(&s, "org/app", "v1", &image.manifest, digest).await;
    assert_served(&s, "org/app", digest, &image.manifest, digest).await;
    assert_eq!(s.tags("org/app").await, ["v1"]);
}

#[tokio::test]
async fn put_by_digest_is_201_without_a_tag() {
    let s = TestServer::start().await;
    let image = Image::new(2);
    let digest = image.manifest.digest.clone();
    s.push_image("app", &digest, &image).await;
    assert_served(&s, "app", &digest, &image.manifest, &digest).await;
    assert!(s.tags("app").await.is_empty());
}

#[tokio::test]
async fn put_by_digest_with_tag_parameters_creates_every_tag() {
    let s = TestServer::start().await;
    let image = Image::new(3);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let digest = &image.manifest.digest;
    let tags = ["1.2.3", "1.2", "1", "latest"];
    let query: Vec<String> = tags.iter().map(|t| format!("tag={t}")).collect();
    let reference = format!("{digest}?{}", query.join("&"));
    let response = s.put_manifest("app", &reference, &image.manifest).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(location(&response), format!("/v2/app/manifests/{digest}"));
    let announced = response.headers().get_all("oci-tag").iter().count();
    assert_eq!(announced, tags.len(), "one OCI-Tag header per tag");
    let announced: BTreeSet<String> = header_values(&response, "oci-tag").into_iter().collect();
    assert_eq!(announced, tags.iter().map(|t| t.to_string()).collect());
    for tag in tags {
        assert_served(&s, "app", tag, &image.manifest, digest).await;
    }
    assert_eq!(s.tags("app").await, ["1", "1.2", "1.2.3", "latest"]);
}

#[tokio::test]
async fn a_repeated_tag_parameter_is_announced_once() {
    let s = TestServer::start().await;
    let image = Image::new(4);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let reference = format!("{}?tag=a&tag=b&tag=a", image.manifest.digest);
    let response = s.put_manifest("app", &reference, &image.manifest).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_values(&response, "oci-tag"), ["a", "b"]);
}

#[tokio::test]
async fn sha512_manifests_are_addressed_by_their_sha512_digest() {
    let s = TestServer::start().await;
    let image = Image::new(5);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let digest = sha512(&image.manifest.bytes);
    let response = s
        .put_manifest("app", &format!("{digest}?tag=t512"), &image.manifest)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(location(&response), format!("/v2/app/manifests/{digest}"));
    assert_eq!(header(&response, "docker-content-digest"), Some(digest.clone()));
    assert_served(&s, "app", &digest, &image.manifest, &digest).await;
    assert_served(&s, "app", "t512", &image.manifest, &digest).await;
}

#[tokio::test]
async fn an_index_over_pushed_manifests_is_accepted() {
    let s = TestServer::start().await;
    let (a, b) = (Image::new(6), Image::new(7));
    s.push_image("app", &a.manifest.digest, &a).await;
    s.push_image("app", &b.manifest.digest, &b).await;
    let index = Manifest::new(&index_json(&[&a.manifest, &b.manifest]));
    assert_eq!(index.media_type, OCI_INDEX);
    s.push_manifest("app", "multi", &index).await;
    assert_served(&s, "app", "multi", &index, &index.digest).await;
}

#[tokio::test]
async fn a_docker_schema2_manifest_keeps_its_media_type() {
    let s = TestServer::start().await;
    let config = Blob::config(8);
    let layer = Blob::random(8, 64);
    s.push_blob("app", &config).await;
    s.push_blob("app", &layer).await;
    let manifest = Manifest::new(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(DOCKER_CONFIG),
        "layers": [layer.descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip")],
    }));
    s.push_manifest("app", "docker", &manifest).await;
    assert_served(&s, "app", "docker", &manifest, &manifest.digest).await;
}

#[tokio::test]
async fn a_manifest_without_media_type_is_served_as_pushed() {
    let s = TestServer::start().await;
    let image = Image::new(9);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let mut json = image_json(&image.config, &[&image.layer]);
    json.as_object_mut().unwrap().remove("mediaType");
    let manifest = Manifest::new(&json);
    s.push_manifest("app", "plain", &manifest).await;
    assert_served(&s, "app", "plain", &manifest, &manifest.digest).await;

    let empty_layers = Manifest::new(&image_json(&image.config, &[]));
    s.push_manifest("app", "emptylayer", &empty_layers).await;
    assert_served(&s, "app", "emptylayer", &empty_layers, &empty_layers.digest).await;
}

#[tokio::test]
async fn pushing_the_same_manifest_again_is_idempotent_and_a_tag_moves() {
    let s = TestServer::start().await;
    let (a, b) = (Image::new(10), Image::new(11));
    s.push_image("app", "latest", &a).await;
    s.push_manifest("app", "latest", &a.manifest).await;
    s.push_manifest("app", &a.manifest.digest, &a.manifest).await;
    assert_served(&s, "app", "latest", &a.manifest, &a.manifest.digest).await;

    s.push_image("app", "latest", &b).await;
    assert_served(&s, "app", "latest", &b.manifest, &b.manifest.digest).await;
    assert_served(&s, "app", &a.manifest.digest, &a.manifest, &a.manifest.digest).await;
    assert_eq!(s.tags("app").await, ["latest"]);
}

#[tokio::test]
async fn non_distributable_layers_need_not_be_pushed() {
    let s = TestServer::start().await;
    let config = Blob::config(12);
    s.push_blob("app", &config).await;
    let foreign = Blob::random(12, 123);
    let mut layer = foreign.descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
    layer["urls"] = json!(["https://store.example.com/blob"]);
    let mut json = image_json(&config, &[]);
    json["layers"] = json!([layer]);
    let manifest = Manifest::new(&json);
    s.push_manifest("app", "external", &manifest).await;
    assert_served(&s, "app", "external", &manifest, &manifest.digest).await;
}

#[tokio::test]
async fn sparse_manifests_are_accepted_when_configured() {
    let s = TestServer::with_config(RegistryConfig {
        allow_sparse_manifests: true,
        ..RegistryConfig::default()
    })
    .await;
    let image = Image::new(13);
    s.push_manifest("app", "sparse-image", &image.manifest).await;
    let index = Manifest::new(&index_json(&[&Image::new(14).manifest]));
    s.push_manifest("app", "sparse-index", &index).await;
    assert_served(&s, "app", "sparse-index", &index, &index.digest).await;
}

#[tokio::test]
async fn an_unknown_manifest_is_404_manifest_unknown() {
    let s = TestServer::start().await;
    let image = Image::new(15);
    s.push_image("app", "v1", &image).await;
    let other = Image::new(16);
    for reference in ["v2", other.manifest.digest.as_str()] {
        let path = format!("/v2/app/manifests/{reference}");
        expect_error(s.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
        assert_eq!(s.head_status(&path).await, StatusCode::NOT_FOUND);
    }
    // A manifest of another repository is not served here.
    let path = format!("/v2/other/manifests/{}", image.manifest.digest);
    assert_eq!(s.get(&path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_repository_is_404_name_unknown() {
    let s = TestServer::start().await;
    let response = s.get("/v2/nothing/here/manifests/latest").await;
    expect_error(response, 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn reading_a_malformed_tag_is_404() {
    let s = TestServer::start().await;
    s.push_image("app", "v1", &Image::new(17)).await;
    let path = "/v2/app/manifests/.INVALID_MANIFEST_NAME";
    expect_error(s.get(path).await, 404, "MANIFEST_UNKNOWN").await;
    assert_eq!(s.head_status(path).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn content_type_parameters_are_ignored() {
    let s = TestServer::start().await;
    let image = Image::new(18);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let mut with_parameter = image.manifest.clone();
    with_parameter.media_type = format!("{}; charset=utf-8", image.manifest.media_type);
    s.push_manifest("app", "v1", &with_parameter).await;
    assert_served(&s, "app", "v1", &image.manifest, &image.manifest.digest).await;
}

#[tokio::test]
async fn a_manifest_near_4_mib_streamed_without_length_is_accepted() {
    let s = TestServer::start().await;
    let image = Image::new(19);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let mut json = image_json(&image.config, &[&image.layer]);
    let annotations: serde_json::Map<String, serde_json::Value> = (0..390)
        .map(|i| (format!("org.example.{i}"), json!("a".repeat(10_000))))
        .collect();
    json["annotations"] = serde_json::Value::Object(annotations);
    let large = Manifest::new(&json);
    assert!(large.bytes.len() > 3_900_000 && large.bytes.len() < 4 * 1024 * 1024);
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = large.bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = s
        .request(reqwest::Method::PUT, "/v2/app/manifests/large")
        .header("content-type", &large.media_type)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_served(&s, "app", "large", &large, &large.digest).await;
}

#[tokio::test]
async fn unknown_fields_and_embedded_data_are_kept_byte_for_byte() {
    let s = TestServer::start().await;
    let image = Image::new(20);
    s.push_blob("app", &image.config).await;
    s.push_blob("app", &image.layer).await;
    let mut json = image_json(&image.config, &[&image.layer]);
    json["org.example.custom"] = json!({"nested": [1, 2, 3]});
    json["config"]["data"] = json!("eyJhcmNoaXRlY3R1cmUiOiJhbWQ2NCJ9");
    json["layers"][0]["newUnspecifiedField"] = json!("aGVsbG8=");
    let manifest = Manifest::new(&json);
    s.push_manifest("app", "custom", &manifest).await;
    assert_served(&s, "app", "custom", &manifest, &manifest.digest).await;
}
