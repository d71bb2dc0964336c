//! `Distribution` starts a private, working registry and stops it on drop.

use wharf_testkit::Distribution;

use crate::helpers::{client, content, push_blob, sha256};

#[tokio::test]
async fn answers_v2_with_the_api_version_header() {
    let registry = Distribution::start();
    assert_eq!(registry.url(), format!("http://{}", registry.host()));
    assert!(registry.host().starts_with("127.0.0.1:"));
    let response = client().get(format!("{}/v2/", registry.url())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["docker-distribution-api-version"], "registry/2.0");
    let log = std::fs::read_to_string(registry.log_file()).unwrap();
    assert!(log.contains(&format!("listening on {}", registry.host())), "log: {log}");
}

#[tokio::test]
async fn a_monolithic_push_comes_back_byte_identical() {
    let registry = Distribution::start();
    let client = client();
    let blob = content(1, 3 << 20);
    let digest = push_blob(&client, &registry.url(), "test/mono", blob.clone()).await;
    let url = format!("{}/v2/test/mono/blobs/{digest}", registry.url());

    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], blob.len().to_string().as_str());
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());

    let pulled = client.get(&url).send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    let pulled = pulled.bytes().await.unwrap();
    assert_eq!(pulled.len(), blob.len());
    assert_eq!(sha256(&pulled), digest);
    // The filesystem driver keeps it where storage_dir() says.
    assert!(registry.storage_dir().join("docker/registry/v2/blobs/sha256").is_dir());
}

#[tokio::test]
async fn instances_are_independent_and_deletes_are_enabled() {
    let (one, two) = (Distribution::start(), Distribution::start());
    assert_ne!(one.host(), two.host());
    let client = client();
    let digest = push_blob(&client, &one.url(), "test/own", content(2, 1000)).await;
    let at = |registry: &Distribution| format!("{}/v2/test/own/blobs/{digest}", registry.url());
    assert_eq!(client.head(at(&two)).send().await.unwrap().status(), 404);
    assert_eq!(client.delete(at(&one)).send().await.unwrap().status(), 202);
    assert_eq!(client.head(at(&one)).send().await.unwrap().status(), 404);
}

#[test]
fn starts_from_a_plain_test_and_is_gone_after_drop() {
    let registry = Distribution::start();
    let port: u16 = registry.host().rsplit(':').next().unwrap().parse().unwrap();
    let storage = registry.storage_dir();
    assert!(storage.is_dir());
    drop(registry);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after drop"
    );
    assert!(!storage.exists(), "the storage is removed on drop");
}

#[tokio::test]
async fn basic_auth_needs_the_credentials() {
    let registry = Distribution::start_with_basic_auth("tester", "s3cret");
    let client = client();
    let url = format!("{}/v2/", registry.url());
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Basic realm=\"wharf-testkit\"");
    let wrong = client
        .get(&url)
        .basic_auth("tester", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(&url)
        .basic_auth("tester", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}
