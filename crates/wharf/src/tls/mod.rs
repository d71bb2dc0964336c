//! TLS for `wharf serve`: the `[tls]` settings, the rustls server configuration made
//! from the PEM files (on the ring provider), its reload when the files change, and the
//! identity a verified client certificate stands for. The handshake itself is the
//! listener's (`listener/tls.rs`).
//!
//! - [`files`]: the settings and the PEM files read into a `rustls::ServerConfig`.
//! - [`reload`]: a watcher that swaps in a new configuration when the files change,
//!   and keeps the old one when the new files do not make a valid one.
//! - [`subject`]: a client certificate's subject, as the access rules see it.

pub mod files;
pub mod reload;
pub mod subject;

pub use files::{ClientAuth, TlsFileConfig, TlsFiles};
pub use reload::ServerTls;
