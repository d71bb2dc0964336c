//! The style sheet and script, embedded in the binary and served under names that carry
//! a hash of their content, so browsers may keep them for a year: a new build that
//! changes them changes their names.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

/// One embedded file under its hashed name.
pub struct Asset {
    pub name: String,
    etag: String,
    content_type: &'static str,
    body: &'static str,
}

fn asset(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash: String = Sha256::digest(body.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Asset {
        name: format!("{stem}-{hash}.{extension}"),
        etag: format!("\"{hash}\""),
        content_type,
        body,
    }
}

pub static STYLE: LazyLock<Asset> = LazyLock::new(|| asset("ui", "css", "text/css; charset=utf-8", CSS));
pub static SCRIPT: LazyLock<Asset> = LazyLock::new(|| asset("ui", "js", "text/javascript; charset=utf-8", JS));

impl Asset {
    pub fn href(&self) -> String {
        format!("{}/assets/{}", super::PREFIX, self.name)
    }
}

pub async fn serve(Path(file): Path<String>) -> Response {
    for asset in [&*STYLE, &*SCRIPT] {
        if asset.name == file {
            return (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    (header::ETAG, asset.etag.as_str()),
                ],
                asset.body,
            )
                .into_response();
        }
    }
    (StatusCode::NOT_FOUND, "no such file").into_response()
}
