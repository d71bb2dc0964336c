//! end-12a (`GET /v2/<name>/referrers/<digest>`) and end-12b (`?artifactType=` with
//! `OCI-Filters-Applied`), and the `OCI-Subject` header of a manifest push with a
//! `subject` (even one not pushed yet).

use crate::client::{expect_error, header};
use crate::content::{image_json, Blob, Image, Manifest, OCI_EMPTY, OCI_INDEX};
use crate::harness::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SBOM: &str = "application/vnd.example.sbom.v1";
const SIGNATURE: &str = "application/vnd.example.signature.v1";
const CUSTOM_CONFIG: &str = "application/vnd.example.config.v1+json";

/// The `{}` blob artifacts use as config and layer.
fn empty_json() -> Blob {
    Blob::new(b"{}".to_vec())
}

/// An artifact manifest (config `{}`) about `subject`, with `fields` merged in.
fn artifact(subject: &Manifest, fields: Value) -> Manifest {
    let empty = empty_json();
    let mut json = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": empty.descriptor(OCI_EMPTY),
        "layers": [empty.descriptor(OCI_EMPTY)],
        "subject": subject.descriptor(),
    });
    json.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    Manifest::new(&json)
}

/// An index about `subject` with no children, with `fields` merged in.
fn index_about(subject: &Manifest, fields: Value) -> Manifest {
    let mut json =
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "subject": subject.descriptor()});
    json.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    Manifest::new(&json)
}

/// GETs the referrers index at `path`; checks status, Content-Type and the index frame.
async fn referrers(s: &TestServer, path: &str) -> (Vec<Value>, Option<String>) {
    let response = s.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(header(&response, "content-type").as_deref(), Some(OCI_INDEX));
    let filters = header(&response, "oci-filters-applied");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    (body["manifests"].as_array().unwrap().clone(), filters)
}

/// The descriptor of `manifest` in `found`.
fn entry<'a>(found: &'a [Value], manifest: &Manifest) -> &'a Value {
    found
        .iter()
        .find(|d| d["digest"] == manifest.digest.as_str())
        .unwrap_or_else(|| panic!("{} is not listed in {found:?}", manifest.digest))
}

/// Pushes `manifest` by digest; asserts 201 and `OCI-Subject: <subject>`.
async fn push_referrer(s: &TestServer, repo: &str, manifest: &Manifest, subject: &Manifest) {
    let response = s.put_manifest(repo, &manifest.digest, manifest).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "oci-subject"), Some(subject.digest.clone()));
}

#[tokio::test]
async fn no_referrers_is_an_empty_index_even_for_unknown_repositories() {
    let s = TestServer::start().await;
    let subject = Image::new(1);
    let (found, filters) = referrers(&s, &format!("/v2/never/pushed/referrers/{}", subject.manifest.digest)).await;
    assert!(found.is_empty());
    assert_eq!(filters, None);
    s.push_image("app", "v1", &subject).await;
    let (found, _) = referrers(&s, &format!("/v2/app/referrers/{}", subject.manifest.digest)).await;
    assert!(found.is_empty());
}

#[tokio::test]
async fn referrers_list_each_manifest_about_the_subject() {
    let s = TestServer::start().await;
    let subject = Image::new(2);
    s.push_image("app", "v1", &subject).await;
    s.push_blob("app", &empty_json()).await;
    let custom = Blob::new(br#"{"custom":true}"#.to_vec());
    s.push_blob("app", &custom).await;

    let sbom = artifact(
        &subject.manifest,
        json!({"artifactType": SBOM, "annotations": {"org.example.format": "json", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}),
    );
    let mut with_config = image_json(&custom, &[]);
    with_config["config"]["mediaType"] = json!(CUSTOM_CONFIG);
    with_config["subject"] = subject.manifest.descriptor();
    with_config["annotations"] = json!({"org.example.kind": "config-typed"});
    let by_config = Manifest::new(&with_config);
    let typed_index = index_about(&subject.manifest, json!({"artifactType": SIGNATURE}));
    let plain_index = index_about(&subject.manifest, json!({"annotations": {"org.example.kind": "index"}}));
    for m in [&sbom, &by_config, &typed_index, &plain_index] {
        push_referrer(&s, "app", m, &subject.manifest).await;
    }
    // About something else, or in another repository: not listed.
    let elsewhere = Image::new(3);
    s.push_image("app", "other", &elsewhere).await;
    push_referrer(
        &s,
        "app",
        &artifact(&elsewhere.manifest, json!({"artifactType": SBOM})),
        &elsewhere.manifest,
    )
    .await;
    s.push_blob("other", &empty_json()).await;
    push_referrer(
        &s,
        "other",
        &artifact(&subject.manifest, json!({"artifactType": "x/y"})),
        &subject.manifest,
    )
    .await;

    let (found, filters) = referrers(&s, &format!("/v2/app/referrers/{}", subject.manifest.digest)).await;
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(filters, None);
    for m in [&sbom, &by_config, &typed_index, &plain_index] {
        let d = entry(&found, m);
        assert_eq!(d["mediaType"], m.media_type.as_str());
        assert_eq!(d["size"], m.bytes.len());
    }
    assert_eq!(entry(&found, &sbom)["artifactType"], SBOM);
    assert_eq!(
        entry(&found, &sbom)["annotations"],
        json!({"org.example.format": "json", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    );
    assert_eq!(
        entry(&found, &by_config)["artifactType"],
        CUSTOM_CONFIG,
        "falls back to config.mediaType"
    );
    assert_eq!(
        entry(&found, &by_config)["annotations"],
        json!({"org.example.kind": "config-typed"})
    );
    assert_eq!(entry(&found, &typed_index)["artifactType"], SIGNATURE);
    assert!(
        entry(&found, &plain_index).get("artifactType").is_none(),
        "an index without one has none"
    );
    assert_eq!(
        entry(&found, &plain_index)["annotations"],
        json!({"org.example.kind": "index"})
    );
}

#[tokio::test]
async fn an_artifact_type_filter_keeps_only_that_type() {
    let s = TestServer::start().await;
    let subject = Image::new(4);
    s.push_image("app", "v1", &subject).await;
    s.push_blob("app", &empty_json()).await;
    let sbom = artifact(&subject.manifest, json!({"artifactType": SBOM}));
    let signature = artifact(&subject.manifest, json!({"artifactType": SIGNATURE}));
    let untyped = artifact(&subject.manifest, json!({"annotations": {"n": "1"}}));
    for m in [&sbom, &signature, &untyped] {
        push_referrer(&s, "app", m, &subject.manifest).await;
    }
    let base = format!("/v2/app/referrers/{}", subject.manifest.digest);

    let (found, filters) = referrers(&s, &format!("{base}?artifactType={SBOM}")).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(found.len(), 1);
    assert_eq!(entry(&found, &sbom)["artifactType"], SBOM);

    let (found, filters) = referrers(&s, &format!("{base}?artifactType=application%2Fvnd.example.none")).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert!(found.is_empty());

    // The type taken from the config's media type is filtered on too.
    let (found, _) = referrers(
        &s,
        &format!("{base}?artifactType=application%2Fvnd.oci.empty.v1%2Bjson"),
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(entry(&found, &untyped)["artifactType"], OCI_EMPTY);

    let (found, filters) = referrers(&s, &base).await;
    assert_eq!(found.len(), 3);
    assert_eq!(filters, None);
}

#[tokio::test]
async fn a_referrer_may_be_pushed_before_its_subject() {
    let s = TestServer::start().await;
    let subject = Image::new(5);
    s.push_blob("app", &empty_json()).await;
    let early = artifact(&subject.manifest, json!({"artifactType": SBOM}));
    let response = s.put_manifest("app", "early-sbom", &early).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "a missing subject is not refused"
    );
    assert_eq!(header(&response, "oci-subject"), Some(subject.manifest.digest.clone()));

    let path = format!("/v2/app/referrers/{}", subject.manifest.digest);
    let (found, _) = referrers(&s, &path).await;
    assert_eq!(found.len(), 1);
    assert_eq!(entry(&found, &early)["artifactType"], SBOM);

    s.push_image("app", "v1", &subject).await;
    let (found, _) = referrers(&s, &path).await;
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn an_empty_artifact_type_counts_as_missing() {
    let s = TestServer::start().await;
    let subject = Image::new(6);
    s.push_blob("app", &empty_json()).await;
    let manifest = artifact(&subject.manifest, json!({"artifactType": ""}));
    let index = index_about(&subject.manifest, json!({"artifactType": ""}));
    push_referrer(&s, "app", &manifest, &subject.manifest).await;
    push_referrer(&s, "app", &index, &subject.manifest).await;
    let (found, _) = referrers(&s, &format!("/v2/app/referrers/{}", subject.manifest.digest)).await;
    assert_eq!(
        entry(&found, &manifest)["artifactType"],
        OCI_EMPTY,
        "falls back to config.mediaType"
    );
    assert!(entry(&found, &index).get("artifactType").is_none(), "{found:?}");
}

#[tokio::test]
async fn a_deleted_referrer_leaves_the_list() {
    let s = TestServer::start().await;
    let subject = Image::new(7);
    s.push_image("app", "v1", &subject).await;
    s.push_blob("app", &empty_json()).await;
    let sbom = artifact(&subject.manifest, json!({"artifactType": SBOM}));
    push_referrer(&s, "app", &sbom, &subject.manifest).await;
    let response = s.delete(&format!("/v2/app/manifests/{}", sbom.digest)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let (found, _) = referrers(&s, &format!("/v2/app/referrers/{}", subject.manifest.digest)).await;
    assert!(found.is_empty());
}

#[tokio::test]
async fn referrers_of_a_malformed_digest_are_400() {
    let s = TestServer::start().await;
    for digest in ["sha256:abc", "latest", "sha384:00"] {
        let response = s.get(&format!("/v2/app/referrers/{digest}")).await;
        expect_error(response, 400, "DIGEST_INVALID").await;
    }
}
