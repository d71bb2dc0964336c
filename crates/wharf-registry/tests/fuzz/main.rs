//! Property-based fuzzing of what the registry parses from requests (issue 19), through
//! the HTTP router of an in-memory registry: manifests, `Range` and `Content-Range`,
//! query parameters, `Authorization` headers, scopes and tokens, htpasswd lines, and
//! the file store's paths. Every property has an oracle: a model of the answer, a round
//! trip, or the spec's status and error code; never a 500.
//!
//! `PROPTEST_CASES` bounds the cases (256 by default); `scripts/fuzz SECONDS` runs the
//! set long with random seeds.

mod harness;

mod auth;
mod manifests;
mod queries;
mod ranges;
mod storage;
