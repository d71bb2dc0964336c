//! The answer of an optional [`super::MetaStore`] call a store does not implement: its
//! default says so with this error, so that a caller (and the contract checks of the
//! test kit) can tell "this store cannot" from "this store failed".

/// A store does not support `what` (e.g. "record signed-out sessions").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "this metadata store cannot {}", self.0)
    }
}

impl std::error::Error for Unsupported {}
