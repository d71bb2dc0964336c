//! Header names of the distribution API and the response headers every answer carries.

use axum::response::Response;
use http::HeaderValue;

pub const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
pub const DOCKER_UPLOAD_UUID: &str = "docker-upload-uuid";
pub const DOCKER_API_VERSION: &str = "docker-distribution-api-version";
pub const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";
pub const OCI_SUBJECT: &str = "oci-subject";
pub const OCI_TAG: &str = "oci-tag";
pub const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";

/// Every answer says which API it speaks (end-1 requires it; clients probe for it).
pub async fn add_api_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(DOCKER_API_VERSION, HeaderValue::from_static("registry/2.0"));
    response
}

/// A header value from text the registry produced (digests, paths, tags, numbers);
/// these are always visible ASCII.
pub fn value(text: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(text.as_ref()).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `Range: 0-<last byte>` of an upload holding `offset` bytes. An empty upload is
/// answered `0-0` as CNCF Distribution does, the form clients expect.
pub fn upload_range(offset: u64) -> HeaderValue {
    value(format!("0-{}", offset.saturating_sub(1)))
}
