//! Test support for wharf's client library and CLI tests (dev-only, never published):
//!
//! - [`Distribution`]: CNCF Distribution, the reference registry, as a private child
//!   process, to test the client against a registry that is not wharf.
//!
//! Everything listens on 127.0.0.1 only, and every wait is bounded.

mod distribution;

pub use distribution::Distribution;
