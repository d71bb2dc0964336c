//! One error type for everything the client does, with messages a person can act on.

use wharf_oci::Digest;

/// What went wrong with a registry operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference such as `host/repo:tag` that does not follow the grammar.
    #[error("invalid reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },

    /// The registry answered with an error status (after any retries).
    #[error("{method} {url}: {status}{}", describe(.code, .message))]
    Registry {
        method: String,
        url: String,
        status: u16,
        /// The spec's error code from the JSON body (`MANIFEST_UNKNOWN`, …), if any.
        code: Option<String>,
        message: Option<String>,
    },

    /// The registry refused the credentials, or asked for some the client lacks.
    #[error("authentication to {registry} failed: {message}")]
    Auth { registry: String, message: String },

    /// The connection failed or timed out (after any retries).
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },

    /// Bytes that do not hash to the digest they were asked for by.
    #[error("{what} does not match its digest: expected {expected}, received {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    /// Content of another length than its descriptor says.
    #[error("{what} has the wrong size: expected {expected} bytes, received {actual}")]
    SizeMismatch { what: String, expected: u64, actual: u64 },

    /// The TLS handshake failed: the registry's certificate is not trusted, or it wants a
    /// client certificate. Not retried: trying again changes nothing.
    #[error("{url}: TLS failed: {message}")]
    Tls { url: String, message: String },

    /// An answer that breaks the protocol (a missing `Location`, an unparsable document…).
    #[error("{0}")]
    Protocol(String),

    /// Something the caller asked for that does not exist.
    #[error("{0}")]
    NotFound(String),

    /// A request the caller should not have made (bad argument, unsupported combination).
    #[error("{0}")]
    Invalid(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn describe(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(" {c}: {m}"),
        (Some(c), None) => format!(" {c}"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// The HTTP status of a registry error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Registry { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the thing asked for does not exist (404 or a NotFound).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_)) || self.status() == Some(404)
    }

    /// Whether the registry refused who we are or what we may do.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Auth { .. }) || matches!(self.status(), Some(401) | Some(403))
    }

    /// Whether received content failed verification.
    pub fn is_integrity(&self) -> bool {
        matches!(self, Error::DigestMismatch { .. } | Error::SizeMismatch { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
