//! One behavioural suite per storage trait, written once over `&dyn BlobStore` and
//! `&dyn MetaStore` (the contracts in their doc comments) and run against every
//! adapter: memory and files for blobs, memory, SQLite and PostgreSQL for metadata.

mod blob_store;
mod meta_store;
mod meta_store_gc;
mod meta_store_postgres;
