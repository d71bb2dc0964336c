//! Shared steps: test content, a loopback HTTP client, and the monolithic blob push of
//! the distribution spec.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// `len` bytes of stream `seed` (xorshift64*: cheap, and no two seeds alike).
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// No proxy from the environment, no redirects followed, and no request waits forever.
pub fn client() -> reqwest::Client {
    wharf_testkit::http_client_builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `location` resolved against `base` (Distribution answers absolute URLs, others may not).
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// Starts an upload session and returns its `Location` header as answered.
pub async fn start_upload(client: &reqwest::Client, base: &str, repo: &str) -> String {
    let response = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "POST of an upload session");
    response.headers()["location"].to_str().unwrap().to_string()
}

/// The spec's monolithic push (POST, then PUT with the whole body and the digest);
/// returns the digest.
pub async fn push_blob(client: &reqwest::Client, base: &str, repo: &str, blob: Vec<u8>) -> String {
    let digest = sha256(&blob);
    let location = absolute(base, &start_upload(client, base, repo).await);
    let separator = if location.contains('?') { '&' } else { '?' };
    let response = client
        .put(format!("{location}{separator}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "PUT of a monolithic upload");
    digest
}
