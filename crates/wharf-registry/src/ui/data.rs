//! What the pages show of a manifest, an index and an image config, read leniently from
//! their JSON: a field missing or of the wrong type is shown as absent, never an error
//! (the registry validated what it had to when the manifest was pushed).

use serde_json::Value;
use std::collections::BTreeMap;

/// Image configs larger than this are not read (their details are not shown).
pub const CONFIG_CAP: u64 = 1024 * 1024;

/// A descriptor: a layer, a config, an index's child.
#[derive(Debug, Clone, Default)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<String>,
}

/// A manifest or index as stored.
#[derive(Debug, Clone, Default)]
pub struct ManifestView {
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    /// An index's (or manifest list's) children.
    pub children: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub is_index: bool,
}

/// What an image config says.
#[derive(Debug, Clone, Default)]
pub struct ConfigView {
    pub created: Option<String>,
    pub platform: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Default)]
pub struct HistoryEntry {
    pub created: Option<String>,
    pub created_by: String,
    pub empty_layer: bool,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn strings(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let shown = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    (k.clone(), shown)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `linux/arm64/v8` from an object with `os`, `architecture` and `variant`.
fn platform(v: &Value) -> Option<String> {
    let os = text(v, "os")?;
    let arch = text(v, "architecture")?;
    Some(match text(v, "variant") {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    })
}

fn descriptor(v: &Value) -> Descriptor {
    Descriptor {
        media_type: text(v, "mediaType").unwrap_or_default(),
        digest: text(v, "digest").unwrap_or_default(),
        size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
        platform: v.get("platform").and_then(platform),
    }
}

fn descriptors(v: Option<&Value>) -> Vec<Descriptor> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(descriptor).collect())
        .unwrap_or_default()
}

impl ManifestView {
    pub fn parse(bytes: &[u8]) -> ManifestView {
        let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
            return ManifestView::default();
        };
        let children = descriptors(v.get("manifests"));
        ManifestView {
            is_index: v.get("manifests").is_some_and(Value::is_array),
            config: v.get("config").map(descriptor),
            layers: descriptors(v.get("layers").or_else(|| v.get("blobs"))),
            children,
            subject: v.get("subject").map(descriptor),
            artifact_type: text(&v, "artifactType"),
            annotations: strings(v.get("annotations")),
        }
    }

    /// The platforms of an index's children, in order, each once.
    pub fn platforms(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for p in self.children.iter().filter_map(|c| c.platform.clone()) {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        seen
    }
}

impl ConfigView {
    pub fn parse(bytes: &[u8]) -> ConfigView {
        let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
            return ConfigView::default();
        };
        let inner = v.get("config");
        ConfigView {
            created: text(&v, "created"),
            platform: platform(&v),
            labels: strings(inner.and_then(|c| c.get("Labels"))),
            history: v
                .get("history")
                .and_then(Value::as_array)
                .map(|h| {
                    h.iter()
                        .map(|e| HistoryEntry {
                            created: text(e, "created"),
                            created_by: text(e, "created_by").unwrap_or_default(),
                            empty_layer: e.get("empty_layer").and_then(Value::as_bool).unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// What kind of artifact a referrer is, in words, from its artifact type.
pub fn artifact_kind(artifact_type: Option<&str>) -> &'static str {
    let t = artifact_type.unwrap_or("").to_ascii_lowercase();
    if t.contains("signature") || t.contains("cosign") || t.contains("notary") {
        "signature"
    } else if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") || t.contains("syft") {
        "SBOM"
    } else if t.contains("in-toto") || t.contains("attestation") || t.contains("provenance") {
        "attestation"
    } else {
        "artifact"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_lists_its_platforms_once_each() {
        let index = br#"{"schemaVersion":2,"manifests":[
            {"mediaType":"m","digest":"sha256:a","size":1,"platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"m","digest":"sha256:b","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"mediaType":"m","digest":"sha256:c","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let view = ManifestView::parse(index);
        assert!(view.is_index);
        assert_eq!(view.platforms(), ["linux/amd64", "linux/arm64/v8"]);
    }

    #[test]
    fn odd_json_is_shown_as_absent_not_an_error() {
        let view = ManifestView::parse(br#"{"layers":"no","config":7,"annotations":{"n":5}}"#);
        assert!(view.layers.is_empty());
        assert_eq!(view.annotations.get("n").map(String::as_str), Some("5"));
        let config = ConfigView::parse(br#"{"history":[{"created_by":3}],"config":{"Labels":null}}"#);
        assert_eq!(config.history.len(), 1);
        assert!(config.labels.is_empty());
        assert!(ConfigView::parse(b"not json").created.is_none());
    }
}
