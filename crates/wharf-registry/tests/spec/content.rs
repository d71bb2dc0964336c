//! Test content: deterministic blob bytes, digests, descriptors, and OCI image manifests
//! and indexes built as JSON.

use serde_json::{json, Value};
use wharf_oci::{Algorithm, Digest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// `len` pseudo-random bytes, the same for the same `seed` (xorshift; no I/O, no crate).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub fn sha256(bytes: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, bytes).to_string()
}

pub fn sha512(bytes: &[u8]) -> String {
    Digest::of(Algorithm::Sha512, bytes).to_string()
}

/// A digest no test ever pushes content for.
pub fn unknown_digest(seed: u64) -> String {
    sha256(format!("never pushed {seed}").as_bytes())
}

/// Blob bytes and their sha256 digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: sha256(&bytes),
            bytes,
        }
    }

    pub fn random(seed: u64, len: usize) -> Blob {
        Blob::new(bytes(seed, len))
    }

    /// A small image config whose bytes differ by `seed`.
    pub fn config(seed: u64) -> Blob {
        Blob::new(
            json!({"architecture": "amd64", "os": "linux", "seed": seed})
                .to_string()
                .into_bytes(),
        )
    }

    pub fn descriptor(&self, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// Manifest bytes exactly as pushed, with their media type and sha256 digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

impl Manifest {
    /// Serialises `json` (pretty, so the stored bytes are not canonical JSON) and takes
    /// the media type from its `mediaType` field.
    pub fn new(json: &Value) -> Manifest {
        let media_type = json["mediaType"].as_str().unwrap_or(OCI_MANIFEST).to_string();
        Manifest::raw(serde_json::to_vec_pretty(json).unwrap(), &media_type)
    }

    /// Bytes that need not be valid, pushed with `media_type`.
    pub fn raw(bytes: Vec<u8>, media_type: &str) -> Manifest {
        Manifest {
            digest: sha256(&bytes),
            media_type: media_type.to_string(),
            bytes,
        }
    }

    /// The descriptor an index or a `subject` uses to point at this manifest.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// An OCI image manifest over a config and layers.
pub fn image_json(config: &Blob, layers: &[&Blob]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(OCI_CONFIG),
        "layers": layers.iter().map(|l| l.descriptor(OCI_LAYER)).collect::<Vec<_>>(),
    })
}

/// An OCI index over manifests.
pub fn index_json(manifests: &[&Manifest]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests.iter().map(|m| m.descriptor()).collect::<Vec<_>>(),
    })
}

/// A config, a layer and the image manifest over them.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Blob,
    pub layer: Blob,
    pub manifest: Manifest,
}

impl Image {
    pub fn new(seed: u64) -> Image {
        let config = Blob::config(seed);
        let layer = Blob::random(seed, 300);
        let manifest = Manifest::new(&image_json(&config, &[&layer]));
        Image {
            config,
            layer,
            manifest,
        }
    }
}
