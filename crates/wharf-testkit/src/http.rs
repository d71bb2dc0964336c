//! The tests' HTTP clients. reqwest (and oci-client, over it) is built without a rustls
//! crypto provider of its own, and builds no client until one is installed; TLS is
//! unused on loopback, but the provider is needed all the same. Every test client is
//! made here, so that the provider is installed in one place.

use std::sync::Once;

/// Installs rustls's ring provider as the process's default, once; a provider installed
/// before (by wharf-client, say) stays.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `reqwest::Client::builder()`, with the crypto provider installed: what a test adds
/// its options to (no proxy, timeouts, redirects).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}
