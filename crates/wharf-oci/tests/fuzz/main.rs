//! Property-based fuzzing of the parsers of untrusted input in the vocabulary crate
//! (issue 19): names, tags, digests, references, endpoint paths and manifests. Each
//! property has an oracle (the spec's regular expressions, a round trip, or a model of
//! what the parser must produce), not only "does not panic".
//!
//! The number of cases is bounded (`PROPTEST_CASES`, 256 by default) so the set runs in
//! seconds under `cargo test`; `scripts/fuzz SECONDS` runs it long with random seeds.

mod endpoint;
mod gen;
mod manifest;
mod names;
