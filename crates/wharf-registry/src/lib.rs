//! wharf's registry as a library: an OCI Distribution v1.1 registry served by an axum
//! [`Router`](axum::Router), over storage and metadata the application chooses.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wharf_registry::{meta::MemoryMetaStore, storage::MemoryBlobStore, Maintenance, Registry, RegistryConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let registry = Arc::new(Registry::new(
//!     Arc::new(MemoryBlobStore::new()),
//!     Arc::new(MemoryMetaStore::new()),
//!     RegistryConfig::default(),
//! ));
//! // The background work (expiry of idle uploads, removal of their leftovers), for as
//! // long as the handle is kept.
//! let _maintenance = Maintenance::new(registry.clone()).spawn();
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .merge(wharf_registry::router(registry));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! Layers, each in its own folder: [`http`] (routes, headers, error responses),
//! [`registry`] (the protocol), [`storage`] (blob bytes), [`meta`] (metadata) and
//! [`auth`] (who may do what; [`router_with_access`] applies it); and [`maintenance`],
//! the background jobs an application runs beside the router.

pub mod auth;
pub mod events;
pub mod http;
pub mod maintenance;
pub mod meta;
pub mod metrics;
pub mod registry;
mod sqlite;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "ui")]
pub mod ui;
pub mod upstream;

// The crates whose types and macros appear in the public API, so that an application or
// an adapter names the very versions this crate was built with.
/// The traits ([`BlobStore`](storage::BlobStore), [`MetaStore`](meta::MetaStore),
/// [`Authenticator`](auth::Authenticator), …) are `#[async_trait]`: implement them with
/// this one (`use wharf_registry::async_trait;`).
pub use ::async_trait;
pub use ::async_trait::async_trait;
/// [`router`] returns an `axum::Router` (and `axum::http` is the `http` crate).
pub use axum;
/// Blobs given whole are [`bytes::Bytes`].
pub use bytes;
/// [`storage::ByteStream`] is a `futures` `Stream`.
pub use futures;
/// [`auth::token::SigningKey`] names its `jsonwebtoken` algorithm.
pub use jsonwebtoken;
/// [`RegistryConfig::name_pattern`] is a `regex::Regex`.
pub use regex;
/// [`RegistryError::detail`] is a `serde_json::Value`.
pub use serde_json;
/// Digests, repository names, tags and references.
pub use wharf_oci;

pub use http::{router, router_with_access, router_with_shared_access};
pub use maintenance::Maintenance;
pub use registry::{Registry, RegistryConfig, RegistryError};
