//! The one place a [`RegistryError`] becomes an HTTP response: the spec's JSON error
//! body, its status, and for a refused chunk the upload's `Location` and `Range`.

use super::headers::{upload_range, value, DOCKER_UPLOAD_UUID};
use crate::registry::RegistryError;
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use serde_json::json;

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = self.code.map(|c| c.as_str()).unwrap_or("UNKNOWN");
        let mut entry = json!({ "code": code, "message": self.message });
        if let Some(detail) = self.detail {
            entry["detail"] = *detail;
        }
        let body = serde_json::to_vec(&json!({ "errors": [entry] })).unwrap_or_default();
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(upload) = self.upload {
            let headers = response.headers_mut();
            headers.insert(header::LOCATION, value(&upload.location));
            headers.insert(header::RANGE, upload_range(upload.offset));
            if let Some(id) = upload.location.rsplit('/').next() {
                headers.insert(DOCKER_UPLOAD_UUID, value(id));
            }
        }
        response
    }
}
