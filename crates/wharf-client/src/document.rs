//! The JSON documents a client reads and writes: descriptors, image manifests, image
//! indexes and platforms (OCI image-spec; Docker's schema2 has the same shape).
//!
//! Manifests the client copies are moved as their exact bytes and never re-serialised;
//! these types are for reading fields and for building new documents.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wharf_oci::media_type;

/// Descriptors and platforms are wharf-oci's, the types the registry parses manifests
/// with, so that client and server read a descriptor the same way.
pub use wharf_oci::descriptor::EMPTY_JSON;
pub use wharf_oci::{Descriptor, Platform};

/// An image manifest (OCI, or Docker schema2), artifacts included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// An OCI manifest over `config` and `layers`.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.to_string()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// What a referrers list says about this manifest: its `artifactType`, or its
    /// config's media type when it has none.
    pub fn effective_artifact_type(&self) -> String {
        self.artifact_type
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| self.config.media_type.clone())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifests serialise")
    }
}

/// An image index (OCI), or Docker's manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.to_string()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The child for `platform`, if the index has one.
    pub fn select(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
    }

    /// The child to use for `platform`: the one made for it, else the index's only
    /// child. Without either, the platforms the index has, to tell the user.
    pub fn choose(&self, platform: &Platform) -> Result<&Descriptor, Vec<String>> {
        match self.select(platform) {
            Some(d) => Ok(d),
            None if self.manifests.len() == 1 => Ok(&self.manifests[0]),
            None => Err(self
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect()),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("indexes serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(Platform::parse("linux").is_none());
        assert!(Platform::parse("a/b/c/d").is_none());
        let wanted = Platform::parse("linux/arm64").unwrap();
        assert!(wanted.matches(&p));
        assert!(!p.matches(&wanted));
    }

    #[test]
    fn an_index_selects_a_platform() {
        let mut amd = Descriptor::of(media_type::OCI_MANIFEST, b"a");
        amd.platform = Platform::parse("linux/amd64");
        let mut arm = Descriptor::of(media_type::OCI_MANIFEST, b"b");
        arm.platform = Platform::parse("linux/arm64/v8");
        let index = ImageIndex::new(vec![amd.clone(), arm.clone()]);
        assert_eq!(index.select(&Platform::parse("linux/arm64").unwrap()), Some(&arm));
        assert_eq!(index.select(&Platform::parse("linux/amd64").unwrap()), Some(&amd));
        assert_eq!(index.select(&Platform::parse("windows/amd64").unwrap()), None);
        assert_eq!(
            index.choose(&Platform::parse("windows/amd64").unwrap()),
            Err(vec!["linux/amd64".to_string(), "linux/arm64/v8".to_string()])
        );
        let single = ImageIndex::new(vec![amd.clone()]);
        assert_eq!(single.choose(&Platform::parse("windows/amd64").unwrap()), Ok(&amd));
        let back: ImageIndex = serde_json::from_slice(&index.to_bytes()).unwrap();
        assert_eq!(back, index);
    }

    #[test]
    fn artifact_type_falls_back_to_the_config_type() {
        let m = ImageManifest::new(Descriptor::of("application/x.cfg", b"{}"), vec![]);
        assert_eq!(m.effective_artifact_type(), "application/x.cfg");
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(!text.contains("annotations") && !text.contains("subject"));
    }
}
