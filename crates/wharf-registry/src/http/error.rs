//! The one place a [`RegistryError`] becomes an HTTP response: the spec's JSON error
//! body, its status, and for a refused chunk the upload's `Location` and `Range`.
//!
//! Messages quote what the client sent (a digest, a tag, a media type), which may be as
//! long as a request line or a manifest allows: a message is cut at [`MAX_MESSAGE`]
//! bytes, saying how much was left out, so an error answer stays small whatever the
//! request held. Lists in messages are capped where they are made (see
//! `registry::manifests`).

use super::headers::{upload_range, value, DOCKER_UPLOAD_UUID};
use crate::registry::RegistryError;
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use serde_json::json;

/// Longest message an error answer carries, in bytes.
const MAX_MESSAGE: usize = 4096;

/// `message`, cut at [`MAX_MESSAGE`] bytes (on a character boundary) with a note of how
/// many bytes were left out.
fn capped(mut message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut cut = MAX_MESSAGE;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let left_out = message.len() - cut;
    message.truncate(cut);
    message.push_str(&format!("… ({left_out} more bytes not shown)"));
    message
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = self.code.map(|c| c.as_str()).unwrap_or("UNKNOWN");
        let mut entry = json!({ "code": code, "message": capped(self.message) });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary_and_say_so() {
        assert_eq!(capped("short".into()), "short");
        let long = "é".repeat(MAX_MESSAGE);
        let cut = capped(long.clone());
        assert!(cut.len() < MAX_MESSAGE + 40, "{}", cut.len());
        assert!(cut.ends_with(&format!("… ({} more bytes not shown)", long.len() - MAX_MESSAGE)));
    }
}
