//! One descriptor of `index.json`, with its tag lifted out of the annotations.
//!
//! The tag lives in the `org.opencontainers.image.ref.name` annotation on the wire, but
//! callers look images up by it constantly, so it gets a field of its own; it is put
//! back among the annotations when the entry is written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wharf_oci::Digest;

/// The annotation that names a descriptor of `index.json` (its "tag").
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A descriptor listed in a layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "DescriptorJson", from = "DescriptorJson")]
pub struct LayoutEntry {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// The `org.opencontainers.image.ref.name` annotation, kept out of `annotations`.
    pub ref_name: Option<String>,
    /// Kept as JSON: wharf only copies it along, and a typed version would drop fields a
    /// newer spec adds.
    pub platform: Option<serde_json::Value>,
    /// Every other annotation of the descriptor.
    pub annotations: BTreeMap<String, String>,
    pub artifact_type: Option<String>,
}

impl LayoutEntry {
    /// An entry for a manifest or index of `size` bytes, with nothing else set.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> LayoutEntry {
        LayoutEntry {
            media_type: media_type.into(),
            digest,
            size,
            ref_name: None,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        }
    }

    pub fn with_ref_name(mut self, name: impl Into<String>) -> LayoutEntry {
        self.ref_name = Some(name.into());
        self
    }
}

/// The wire form, in the field order of the spec's examples.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorJson {
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<serde_json::Value>,
    /// The spec allows an absent or empty map for "no annotations"; `null` is read as
    /// absent too, since being strict about it would help nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

impl From<LayoutEntry> for DescriptorJson {
    fn from(e: LayoutEntry) -> DescriptorJson {
        let mut annotations = e.annotations;
        if let Some(name) = e.ref_name {
            annotations.insert(REF_NAME_ANNOTATION.to_string(), name);
        }
        DescriptorJson {
            media_type: e.media_type,
            digest: e.digest,
            size: e.size,
            artifact_type: e.artifact_type,
            platform: e.platform,
            annotations: (!annotations.is_empty()).then_some(annotations),
        }
    }
}

impl From<DescriptorJson> for LayoutEntry {
    fn from(d: DescriptorJson) -> LayoutEntry {
        let mut annotations = d.annotations.unwrap_or_default();
        let ref_name = annotations.remove(REF_NAME_ANNOTATION);
        LayoutEntry {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            ref_name,
            platform: d.platform,
            annotations,
            artifact_type: d.artifact_type,
        }
    }
}

/// Whether `name` may be written as a ref name: it follows the ref grammar of the image
/// spec's annotations.md (`component ("/" component)*`, a component being runs of
/// `[A-Za-z0-9]` joined by one of `-._:@+` or by `--`), or it is a registry tag. The
/// grammar is only a SHOULD, and some valid tags (`_dev`, `v1-`) fall outside it; a tag
/// copied from a registry must be storable under its own name. Checked on write only:
/// what other tools wrote is read as is.
pub fn is_valid_ref_name(name: &str) -> bool {
    follows_ref_grammar(name) || name.parse::<wharf_oci::Tag>().is_ok()
}

fn follows_ref_grammar(name: &str) -> bool {
    !name.is_empty() && name.split('/').all(is_valid_component)
}

fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if run == 0 {
            return false;
        }
        i += run;
        match bytes.get(i) {
            None => return true,
            Some(b'-') if bytes.get(i + 1) == Some(&b'-') => i += 2,
            Some(b'-' | b'.' | b'_' | b':' | b'@' | b'+') => i += 1,
            Some(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ref_name_round_trips_through_the_annotations() {
        let digest = Digest::sha256_of(b"m");
        let mut entry = LayoutEntry::new(wharf_oci::media_type::OCI_MANIFEST, digest.clone(), 1).with_ref_name("v1");
        entry.annotations.insert("com.example.k".into(), "v".into());
        let value = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            value,
            json!({
                "mediaType": wharf_oci::media_type::OCI_MANIFEST,
                "digest": digest.to_string(),
                "size": 1,
                "annotations": {"com.example.k": "v", REF_NAME_ANNOTATION: "v1"},
            })
        );
        let back: LayoutEntry = serde_json::from_value(value).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn no_annotations_means_no_field() {
        let entry = LayoutEntry::new("application/xml", Digest::sha256_of(b""), 0);
        let value = serde_json::to_value(&entry).unwrap();
        assert!(value.get("annotations").is_none());
        let null: LayoutEntry = serde_json::from_value(json!({
            "mediaType": "application/xml", "digest": Digest::sha256_of(b"").to_string(), "size": 0,
            "annotations": null, "urls": ["https://example.com/x"],
        }))
        .unwrap();
        assert_eq!(null, entry);
    }

    #[test]
    fn ref_name_grammar() {
        for good in [
            "v1",
            "1.0.0-rc.1",
            "latest",
            "a--b",
            "example.com/app:v1",
            "x@y+z",
            "A_b",
        ] {
            assert!(follows_ref_grammar(good), "{good:?} refused");
        }
        for bad in [
            "", "-v1", "v1-", "a---b", "a//b", "/a", "a/", "a b", "a\n", "ä", ".", "a..b", "_v1",
        ] {
            assert!(!follows_ref_grammar(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn registry_tags_are_valid_ref_names_too() {
        for good in ["v1", "example.com/app:v1", "_dev", "v1-", "a..b"] {
            assert!(is_valid_ref_name(good), "{good:?} refused");
        }
        for bad in ["", "../v1", "a//b", "-v1", ".", "a b", "v1\n", "ä"] {
            assert!(!is_valid_ref_name(bad), "{bad:?} accepted");
        }
    }
}
