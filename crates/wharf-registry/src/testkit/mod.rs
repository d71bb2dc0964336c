//! The behavioural contracts of [`BlobStore`](crate::storage::BlobStore) and
//! [`MetaStore`](crate::meta::MetaStore), as checks any adapter can run against itself:
//! the built-in adapters run these very checks. Behind the `testkit` feature.
//!
//! Each check is an async function that takes a fresh, empty store and panics, naming
//! what broke, where the store does not keep its contract.

pub mod blob_store;
pub mod meta_store;
