//! The vocabulary of the OCI Distribution and Image specifications, with no I/O.
//!
//! Everything the server and the client must agree on lives here, parsed once into
//! types: digests and their streaming hasher, repository names and tags, media types,
//! manifest validation, the request paths of the `/v2/` API and the error codes.

pub mod descriptor;
pub mod digest;
pub mod endpoint;
pub mod error_code;
pub mod manifest;
pub mod media_type;
pub mod name;

pub use descriptor::{Descriptor, Platform};
pub use digest::{Algorithm, Digest, DigestError, DigestHasher};
pub use endpoint::{Endpoint, EndpointError, Resource};
pub use error_code::ErrorCode;
pub use manifest::{ManifestError, ManifestKind, ParsedManifest};
pub use name::{NameError, Reference, RepositoryName, Tag};
