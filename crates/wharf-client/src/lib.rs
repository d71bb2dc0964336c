//! wharf-client: an async client for the OCI Distribution API, for wharf and for any
//! other conformant registry.
//!
//! Every blob and manifest it moves is streamed (never held whole in memory unless it
//! is a manifest) and verified against its digest; transient failures are retried with
//! backoff; interrupted transfers resume where the server says they stopped.

pub mod auth;
pub mod bench;
pub mod blobs;
mod client;
pub mod copy;
pub mod document;
pub mod error;
pub mod image;
pub mod index;
pub mod layout;
pub mod location;
pub mod manifests;
pub mod progress;
pub mod reference;
pub mod referrers;
pub mod retry;
pub mod signature;
mod tags;
pub mod tls;
pub mod verify;

pub use auth::{Credential, Credentials};
pub use blobs::{BlobSink, BlobSource, BytesSource, FileSource, PushedBlob, PushedHow, RemoteBlob, ResumeStore};
pub use client::{Client, ClientConfig};
pub use document::{Descriptor, ImageIndex, ImageManifest, Platform};
pub use error::{Error, Result};
pub use index::IndexChild;
pub use location::ImageLocation;
pub use manifests::{Manifest, PushedManifest};
pub use progress::{ProgressCallback, ProgressEvent, ProgressState};
pub use reference::{ImageReference, Repository};
pub use retry::RetryPolicy;
pub use tls::TlsConfig;
pub use wharf_oci::{Digest, Reference, RepositoryName, Tag};
