//! Request helpers every module shares: the distribution API's requests built in one
//! place, and the checks its answers get (headers, error bodies).

use crate::content::{Blob, Image, Manifest};
use crate::harness::TestServer;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

pub const OCTET_STREAM: &str = "application/octet-stream";

impl TestServer {
    /// A request to `path` (a path, or a `Location` as the registry sent it).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn head(&self, path: &str) -> Response {
        self.request(Method::HEAD, path).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    /// `POST /v2/<repo>/blobs/uploads/` with `query` and an empty body.
    pub async fn post_upload(&self, repo: &str, query: &str) -> Response {
        self.request(Method::POST, &format!("/v2/{repo}/blobs/uploads/{query}"))
            .header("content-length", "0")
            .send()
            .await
            .unwrap()
    }

    /// Opens an upload session and returns its `Location`.
    pub async fn start_upload(&self, repo: &str) -> String {
        let response = self.post_upload(repo, "").await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        header(&response, "location").expect("202 carries Location")
    }

    /// `PATCH <location>` with `Content-Range: first-last` for `chunk`.
    pub async fn patch_chunk(&self, location: &str, first: u64, chunk: &[u8]) -> Response {
        let last = (first + chunk.len() as u64).saturating_sub(1);
        self.request(Method::PATCH, location)
            .header("content-type", OCTET_STREAM)
            .header("content-range", format!("{first}-{last}"))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// The closing `PUT <location>?digest=` with `body` (empty: nothing more to send).
    pub async fn put_upload(&self, location: &str, digest: &str, body: &[u8]) -> Response {
        self.request(Method::PUT, &with_query(location, "digest", digest))
            .header("content-type", OCTET_STREAM)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes `blob` into `repo` by POST then PUT; asserts 201.
    pub async fn push_blob(&self, repo: &str, blob: &Blob) {
        let location = self.start_upload(repo).await;
        let response = self.put_upload(&location, &blob.digest, &blob.bytes).await;
        assert_eq!(response.status(), StatusCode::CREATED, "pushing blob {}", blob.digest);
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with the manifest's media type.
    pub async fn put_manifest(&self, repo: &str, reference: &str, manifest: &Manifest) -> Response {
        self.request(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", &manifest.media_type)
            .body(manifest.bytes.clone())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a manifest by `reference`; asserts 201.
    pub async fn push_manifest(&self, repo: &str, reference: &str, manifest: &Manifest) {
        let response = self.put_manifest(repo, reference, manifest).await;
        let status = response.status();
        assert_eq!(status, StatusCode::CREATED, "{}", response.text().await.unwrap());
    }

    /// Pushes an image's blobs, then its manifest by `reference` (a tag or its digest).
    pub async fn push_image(&self, repo: &str, reference: &str, image: &Image) {
        self.push_blob(repo, &image.config).await;
        self.push_blob(repo, &image.layer).await;
        self.push_manifest(repo, reference, &image.manifest).await;
    }

    /// The status of a HEAD of `path`.
    pub async fn head_status(&self, path: &str) -> StatusCode {
        self.head(path).await.status()
    }

    /// The tags of `repo` (empty when the repository is unknown).
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let response = self.get(&format!("/v2/{repo}/tags/list")).await;
        if response.status() == StatusCode::NOT_FOUND {
            return Vec::new();
        }
        let body: Value = response.json().await.unwrap();
        body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    }
}

/// `location` with `key=value` added to its query string.
pub fn with_query(location: &str, key: &str, value: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}{key}={value}")
}

/// The first value of a response header, as text.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

/// Every value of a header, comma-separated lists split and trimmed (RFC 9110, 5.3).
pub fn header_values(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Asserts `status`, a JSON error body whose first entry has `code` and a non-empty
/// message; returns the body.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status of {}", response.url());
    assert_eq!(header(&response, "content-type").as_deref(), Some("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "error without a message: {body}");
    body
}

/// Asserts a 201 or 202 upload answer's `Location` and returns it.
pub fn location(response: &Response) -> String {
    header(response, "location").expect("the answer carries Location")
}
