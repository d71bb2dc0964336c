//! The request id: the one the client (or a proxy in front) sent in `X-Request-Id` when
//! it is sane, else one made here; logged with the request and sent back in the
//! response's `X-Request-Id`, so a client's report and the server's log line meet.

use http::{HeaderMap, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub const HEADER: &str = "x-request-id";

/// Longest id taken from a client; a longer one is replaced, not cut.
const MAX_LEN: usize = 128;

/// The request's id: the client's `X-Request-Id` if it is 1 to 128 visible ASCII
/// characters (nothing that could break a log line or a header), else a new one.
pub fn of(headers: &HeaderMap) -> HeaderValue {
    match headers.get(HEADER) {
        Some(given) if sane(given.as_bytes()) => given.clone(),
        _ => generate(),
    }
}

fn sane(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| b.is_ascii_graphic())
}

/// A new id: this process's random prefix and a counter, unique across the replicas of
/// a registry without a random draw (a system call) per request.
fn generate() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_string());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{prefix}-{n:08x}")).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_kept_and_anything_else_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_static("abc-123_X"));
        assert_eq!(of(&headers), "abc-123_X");
        for bad in ["", "has space", &"x".repeat(129)] {
            headers.insert(HEADER, HeaderValue::from_str(bad).unwrap());
            let id = of(&headers);
            assert_ne!(id.as_bytes(), bad.as_bytes());
            assert!(sane(id.as_bytes()));
        }
        headers.insert(HEADER, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert!(sane(of(&headers).as_bytes()));
        let (a, b) = (of(&HeaderMap::new()), of(&HeaderMap::new()));
        assert_ne!(a, b, "each generated id is new");
        assert_eq!(a.len(), 16 + 1 + 8);
    }
}
