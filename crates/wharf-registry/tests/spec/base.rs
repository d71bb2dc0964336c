//! end-1 (`GET /v2/`), the API version header every answer carries, and what the
//! registry says to paths and methods the API does not have.

use crate::client::{expect_error, header};
use crate::content::unknown_digest;
use crate::harness::TestServer;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn base_endpoint_answers_200_with_api_version() {
    let s = TestServer::start().await;
    for path in ["/v2/", "/v2"] {
        let response = s.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&response, "docker-distribution-api-version").as_deref(),
            Some("registry/2.0")
        );
        assert_eq!(header(&response, "content-type").as_deref(), Some("application/json"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body.is_object());
    }
    assert_eq!(s.head_status("/v2/").await, StatusCode::OK);
}

#[tokio::test]
async fn every_answer_carries_the_api_version_even_errors() {
    let s = TestServer::start().await;
    let unknown = unknown_digest(1);
    for path in [
        format!("/v2/app/blobs/{unknown}"),
        "/v2/app/manifests/latest".to_string(),
        "/v2/app/tags/list".to_string(),
        "/v2/NOT-VALID/tags/list".to_string(),
    ] {
        let response = s.get(&path).await;
        assert!(response.status().is_client_error(), "{path}");
        assert_eq!(
            header(&response, "docker-distribution-api-version").as_deref(),
            Some("registry/2.0"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_method_an_endpoint_lacks_is_405_unsupported_with_allow() {
    let s = TestServer::start().await;
    let response = s.request(Method::POST, "/v2/").send().await.unwrap();
    assert_eq!(header(&response, "allow").as_deref(), Some("GET, HEAD"));
    expect_error(response, 405, "UNSUPPORTED").await;

    let response = s
        .request(Method::PATCH, "/v2/app/manifests/latest")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "allow").as_deref(), Some("GET, HEAD, PUT, DELETE"));
    expect_error(response, 405, "UNSUPPORTED").await;
}

#[tokio::test]
async fn a_path_outside_the_api_is_404() {
    let s = TestServer::start().await;
    let response = s.get("/v2/app").await;
    expect_error(response, 404, "NAME_UNKNOWN").await;
    let response = s.get("/v2/app/unknown/thing").await;
    expect_error(response, 404, "NAME_UNKNOWN").await;
}
