//! The behavioural contracts of [`BlobStore`] and [`MetaStore`], as checks any adapter
//! runs against itself: the built-in adapters run these very checks. Behind the
//! `testkit` feature:
//!
//! ```toml
//! [dev-dependencies]
//! wharf-registry = { version = "…", features = ["testkit"] }
//! ```
//!
//! A third-party adapter's test gives [`blob_store_contract`] (or
//! [`meta_store_contract`]) a way to make a fresh, empty store; every check gets its
//! own, and the answer names each check that failed and why:
//!
//! ```no_run
//! # struct MyBlobStore;
//! # impl MyBlobStore { async fn connect(_: &str) -> MyBlobStore { MyBlobStore } }
//! # #[wharf_registry::async_trait]
//! # impl wharf_registry::storage::BlobStore for MyBlobStore {
//! #     async fn blob_size(&self, _: &wharf_registry::wharf_oci::Digest) -> std::io::Result<Option<u64>> { todo!() }
//! #     async fn read_blob(&self, _: &wharf_registry::wharf_oci::Digest, _: std::ops::Range<u64>) -> std::io::Result<wharf_registry::storage::ByteStream> { todo!() }
//! #     async fn put_blob(&self, _: &wharf_registry::wharf_oci::Digest, _: wharf_registry::bytes::Bytes) -> std::io::Result<()> { todo!() }
//! #     async fn delete_blob(&self, _: &wharf_registry::wharf_oci::Digest) -> std::io::Result<()> { todo!() }
//! #     async fn create_upload(&self, _: &str) -> std::io::Result<()> { todo!() }
//! #     async fn append_upload(&self, _: &str, _: u64, _: wharf_registry::storage::AppendSource<'_>) -> std::io::Result<u64> { todo!() }
//! #     async fn read_upload(&self, _: &str, _: u64) -> std::io::Result<wharf_registry::storage::ByteStream> { todo!() }
//! #     async fn commit_upload(&self, _: &str, _: u64, _: &wharf_registry::wharf_oci::Digest) -> std::io::Result<()> { todo!() }
//! #     async fn delete_upload(&self, _: &str) -> std::io::Result<()> { todo!() }
//! #     async fn list_uploads(&self) -> std::io::Result<Vec<String>> { todo!() }
//! #     async fn list_blobs(&self) -> std::io::Result<Vec<wharf_registry::storage::StoredBlob>> { todo!() }
//! # }
//! use wharf_registry::testkit::blob_store_contract;
//!
//! #[tokio::test]
//! async fn my_blob_store_keeps_the_contract() {
//!     // A store of its own for every check: here a fresh bucket prefix each time.
//!     let mut n = 0;
//!     blob_store_contract(|| {
//!         n += 1;
//!         MyBlobStore::connect(&format!("test-{n}/"))
//!     })
//!     .await
//!     .unwrap(); // on failure: "the BlobStore contract is broken: …" and each check's message
//! }
//! ```
//!
//! A store need not implement the optional [`MetaStore`] calls of the web UI (the
//! collection record, signed-out sessions, tag pages by push time): their checks skip
//! what the store says it does not support (an error for which
//! [`MetaError::is_unsupported`] holds, as the defaults answer, or tags without push
//! times) and check fully what it implements.
//!
//! Each check is also an async function of its own ([`blob_store`], [`meta_store`]),
//! which takes an empty store and panics, naming what broke, where the store does not
//! keep its contract: run them one per test to see each pass or fail apart.
//!
//! [`BlobStore`]: crate::storage::BlobStore
//! [`MetaStore`]: crate::meta::MetaStore
//! [`MetaError::is_unsupported`]: crate::meta::MetaError::is_unsupported

/// `&[Check]` of the named check functions, for stores of type `$store`.
macro_rules! checks {
    ($store:ty: $($check:ident),* $(,)?) => {
        &[$($crate::testkit::Check {
            name: stringify!($check),
            run: {
                fn run(store: &$store) -> futures::future::BoxFuture<'_, ()> {
                    Box::pin($check(store))
                }
                run
            },
        }),*]
    };
}

pub mod blob_store;
pub mod meta_store;
mod runner;

pub use runner::{blob_store_contract, meta_store_contract, Check, ContractBroken};
