//! OCI image layout directories (image-spec `image-layout.md`: `oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`) for the interoperability tests: written here from generated
//! content, and read back once a client has written one.

use crate::harness::{content, sha256_of, sha256_of_file};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed layers: what the registry stores is then exactly what was generated.
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Generated blobs are written and hashed this many bytes at a time.
const PIECE: u64 = 1 << 20;

/// What a manifest or an index says of the content it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    pub fn to_json(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }

    /// The `mediaType`, `digest` and `size` of a descriptor in JSON.
    pub fn from_json(value: &Value) -> Descriptor {
        Descriptor {
            media_type: value["mediaType"]
                .as_str()
                .expect("descriptor has a mediaType")
                .to_string(),
            digest: value["digest"].as_str().expect("descriptor has a digest").to_string(),
            size: value["size"].as_u64().expect("descriptor has a size"),
        }
    }
}

/// A platform as image indexes name it.
#[derive(Debug, Clone, Copy)]
pub struct Platform {
    pub os: &'static str,
    pub architecture: &'static str,
}

/// An image written into a layout: its manifest (and those bytes), config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub platform: Platform,
}

impl Image {
    /// Every blob the image consists of, the manifest included.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        [&self.manifest, &self.config].into_iter().chain(&self.layers)
    }
}

/// An OCI image layout being written; `index.json` is written by [`OciLayout::finish`].
pub struct OciLayout {
    root: PathBuf,
    entries: Vec<Value>,
}

impl OciLayout {
    /// Creates the directory with its `oci-layout` marker and an empty blob store.
    pub fn create(root: &Path) -> OciLayout {
        std::fs::create_dir_all(root.join("blobs").join("sha256")).expect("layout directory is created");
        std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout is written");
        OciLayout {
            root: root.to_path_buf(),
            entries: Vec::new(),
        }
    }

    /// Stores `bytes` as a blob.
    pub fn add_blob(&self, media_type: &str, bytes: &[u8]) -> Descriptor {
        let digest = sha256_of(bytes);
        std::fs::write(blob_path(&self.root, &digest), bytes).expect("blob is written");
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
        }
    }

    /// Stores the first `len` bytes of test stream `seed` as a blob, written and hashed
    /// one piece at a time so that a large blob is never held in memory.
    pub fn add_generated_blob(&self, media_type: &str, seed: u64, len: u64) -> Descriptor {
        let partial = self.root.join("blobs").join("sha256").join(".partial");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&partial).expect("blob file is created"));
        let mut hasher = Sha256::new();
        for at in (0..len).step_by(PIECE as usize) {
            let piece = content(seed, at..len.min(at + PIECE));
            hasher.update(&piece);
            file.write_all(&piece).expect("blob piece is written");
        }
        file.into_inner()
            .expect("blob file is flushed")
            .sync_all()
            .expect("blob file is synced");
        let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let digest = format!("sha256:{hex}");
        std::fs::rename(&partial, blob_path(&self.root, &digest)).expect("blob file is renamed to its digest");
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: len,
        }
    }

    /// Stores a config and a manifest for `layers` (already stored) on `platform`.
    pub fn add_image(&self, platform: Platform, layers: &[Descriptor]) -> Image {
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": { "Env": ["PATH=/usr/bin"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        let config = self.add_blob(CONFIG, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.to_json(),
            "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
        });
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap();
        Image {
            manifest: self.add_blob(MANIFEST, &manifest_bytes),
            manifest_bytes,
            config,
            layers: layers.to_vec(),
            platform,
        }
    }

    /// Stores an image index over `images`, each entry naming its platform; returns its
    /// descriptor and bytes.
    pub fn add_index(&self, images: &[&Image]) -> (Descriptor, Vec<u8>) {
        let manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                let mut entry = image.manifest.to_json();
                entry["platform"] = json!({ "architecture": image.platform.architecture, "os": image.platform.os });
                entry
            })
            .collect();
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests });
        let bytes = serde_json::to_vec_pretty(&index).unwrap();
        (self.add_blob(INDEX, &bytes), bytes)
    }

    /// Names `descriptor` (a manifest or an index) `tag` in `index.json`.
    pub fn tag(&mut self, descriptor: &Descriptor, tag: &str) {
        let mut entry = descriptor.to_json();
        entry["annotations"] = json!({ REF_NAME: tag });
        self.entries.push(entry);
    }

    /// Writes `index.json`.
    pub fn finish(self) {
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": self.entries });
        std::fs::write(self.root.join("index.json"), serde_json::to_vec_pretty(&index).unwrap())
            .expect("index.json is written");
    }
}

/// Where a layout under `root` keeps blob `digest`.
pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').expect("digest has an algorithm");
    root.join("blobs").join(algorithm).join(hex)
}

/// The descriptor a layout's `index.json` names `tag`.
pub fn tagged(root: &Path, tag: &str) -> Descriptor {
    let index: Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).expect("index.json is readable")).unwrap();
    let entries = index["manifests"].as_array().expect("index.json lists manifests");
    let entry = entries
        .iter()
        .find(|e| e["annotations"][REF_NAME] == tag)
        .unwrap_or_else(|| panic!("index.json in {} names no {tag:?}: {index}", root.display()));
    Descriptor::from_json(entry)
}

/// Asserts that the layout under `root` holds `blob` with exactly its size and digest.
pub fn assert_holds(root: &Path, blob: &Descriptor) {
    let path = blob_path(root, &blob.digest);
    let len = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()))
        .len();
    assert_eq!(len, blob.size, "size of {}", path.display());
    assert_eq!(sha256_of_file(&path), blob.digest, "content of {}", path.display());
}
