//! The signature of a delivery: HMAC-SHA256 of the exact body, keyed by the endpoint's
//! secret, sent as `Wharf-Signature: sha256=<hex>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header a signed delivery carries.
pub const SIGNATURE_HEADER: &str = "Wharf-Signature";

/// The header's value for `body` under `secret`: `sha256=` and the lower-case hex MAC.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        let signed = super::sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            signed,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
