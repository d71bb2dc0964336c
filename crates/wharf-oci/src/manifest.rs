//! Manifest parsing and validation: OCI image manifests and indexes, Docker schema2
//! manifests and manifest lists, and OCI artifacts (which are image manifests with an
//! `artifactType` or a custom config type).
//!
//! The registry keeps a manifest's exact bytes; this module only reads them to check
//! they are well formed and to learn what they reference.

pub use crate::descriptor::Descriptor;
use crate::media_type::{self, essence};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The four manifest formats a registry stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerManifestList,
}

impl ManifestKind {
    pub fn from_media_type(mt: &str) -> Option<ManifestKind> {
        match mt {
            media_type::OCI_MANIFEST => Some(ManifestKind::OciManifest),
            media_type::OCI_INDEX => Some(ManifestKind::OciIndex),
            media_type::DOCKER_MANIFEST => Some(ManifestKind::DockerManifest),
            media_type::DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::OciManifest => media_type::OCI_MANIFEST,
            ManifestKind::OciIndex => media_type::OCI_INDEX,
            ManifestKind::DockerManifest => media_type::DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => media_type::DOCKER_MANIFEST_LIST,
        }
    }

    /// Whether this kind lists other manifests rather than layers.
    pub fn is_index(self) -> bool {
        matches!(self, ManifestKind::OciIndex | ManifestKind::DockerManifestList)
    }
}

/// Whether a layer of this media type and `urls` is fetched from elsewhere rather than
/// from the registry: the rule registries and clients must agree on.
pub fn is_external_layer(media_type: &str, urls: Option<&[String]>) -> bool {
    urls.is_some_and(|u| !u.is_empty()) || media_type.contains(".nondistributable.") || media_type.contains(".foreign.")
}

/// Why a manifest was refused (MANIFEST_INVALID).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest has an invalid field: {0}")]
    Schema(String),
    #[error("Content-Type {content_type:?} does not match the manifest's mediaType {media_type:?}")]
    MediaTypeMismatch { content_type: String, media_type: String },
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("manifest has no mediaType and its type cannot be told from Content-Type or its fields")]
    UnknownType,
    #[error("schemaVersion must be 2")]
    SchemaVersion,
    #[error("manifest of type {0} lacks the required field {1:?}")]
    MissingField(&'static str, &'static str),
}

/// The fields of any manifest format, all optional, to be checked against its kind.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// A validated manifest: what the registry records about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Content types that say nothing about the manifest format; a client sending one
/// is treated as if it had sent none.
fn is_generic(content_type: &str) -> bool {
    matches!(content_type, "" | "application/json" | "application/octet-stream")
}

impl ParsedManifest {
    /// Parses and validates `bytes` pushed with the given `Content-Type`.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<ParsedManifest, ManifestError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        if !value.is_object() {
            return Err(ManifestError::Schema("the document must be a JSON object".into()));
        }
        let raw: RawManifest = serde_json::from_value(value).map_err(|e| ManifestError::Schema(e.to_string()))?;

        let content_type = content_type.map(essence).filter(|ct| !is_generic(ct));
        let kind = match (content_type, raw.media_type.as_deref()) {
            (Some(ct), Some(mt)) if ct != mt => {
                return Err(ManifestError::MediaTypeMismatch {
                    content_type: ct.to_string(),
                    media_type: mt.to_string(),
                })
            }
            (Some(t), _) | (None, Some(t)) => {
                ManifestKind::from_media_type(t).ok_or_else(|| ManifestError::UnsupportedMediaType(t.to_string()))?
            }
            (None, None) if raw.manifests.is_some() => ManifestKind::OciIndex,
            (None, None) if raw.config.is_some() => ManifestKind::OciManifest,
            (None, None) => return Err(ManifestError::UnknownType),
        };
        if raw.schema_version != Some(2) {
            return Err(ManifestError::SchemaVersion);
        }
        let name = kind.media_type();
        let parsed = if kind.is_index() {
            ParsedManifest {
                kind,
                config: None,
                layers: Vec::new(),
                manifests: raw.manifests.ok_or(ManifestError::MissingField(name, "manifests"))?,
                subject: raw.subject,
                artifact_type: raw.artifact_type.filter(|t| !t.is_empty()),
                annotations: raw.annotations,
            }
        } else {
            let config = raw.config.ok_or(ManifestError::MissingField(name, "config"))?;
            ParsedManifest {
                kind,
                artifact_type: raw
                    .artifact_type
                    .filter(|t| !t.is_empty())
                    .or_else(|| Some(config.media_type.clone())),
                config: Some(config),
                layers: raw.layers.ok_or(ManifestError::MissingField(name, "layers"))?,
                manifests: Vec::new(),
                subject: raw.subject,
                annotations: raw.annotations,
            }
        };
        Ok(parsed)
    }

    /// Everything the manifest references that must already be in the repository:
    /// config, layers (but external ones) and child manifests; never the subject.
    pub fn required_references(&self) -> impl Iterator<Item = &Descriptor> {
        self.config
            .iter()
            .chain(self.layers.iter().filter(|l| !l.is_external()))
            .chain(self.manifests.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(n: u8) -> serde_json::Value {
        json!({"mediaType": "application/octet-stream", "size": 3, "digest": format!("sha256:{}", format!("{n:02x}").repeat(32))})
    }

    fn parse(ct: Option<&str>, v: serde_json::Value) -> Result<ParsedManifest, ManifestError> {
        ParsedManifest::parse(ct, &serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn oci_manifest_with_subject_and_artifact_type() {
        let m = parse(
            Some(media_type::OCI_MANIFEST),
            json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "artifactType": "application/x.sbom",
                   "config": d(1), "layers": [d(2)], "subject": d(3), "annotations": {"a": "b"}}),
        )
        .unwrap();
        assert_eq!(m.kind, ManifestKind::OciManifest);
        assert_eq!(m.artifact_type.as_deref(), Some("application/x.sbom"));
        assert_eq!(m.required_references().count(), 2);
        assert!(m.subject.is_some());
    }

    #[test]
    fn artifact_type_falls_back_to_config_media_type() {
        let mut config = d(1);
        config["mediaType"] = json!("application/x.cfg");
        let m = parse(None, json!({"schemaVersion": 2, "config": config, "layers": []})).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x.cfg"));
    }

    #[test]
    fn index_and_docker_list() {
        let m = parse(
            Some(media_type::OCI_INDEX),
            json!({"schemaVersion": 2, "manifests": [d(1), d(2)]}),
        )
        .unwrap();
        assert_eq!(m.required_references().count(), 2);
        assert_eq!(m.artifact_type, None);
        let m = parse(
            Some(media_type::DOCKER_MANIFEST_LIST),
            json!({"schemaVersion": 2, "mediaType": media_type::DOCKER_MANIFEST_LIST, "manifests": []}),
        )
        .unwrap();
        assert_eq!(m.kind, ManifestKind::DockerManifestList);
    }

    #[test]
    fn external_layers_are_not_required() {
        let mut foreign = d(2);
        foreign["urls"] = json!(["https://example.com/layer"]);
        let m = parse(
            Some(media_type::DOCKER_MANIFEST),
            json!({"schemaVersion": 2, "config": d(1), "layers": [foreign]}),
        )
        .unwrap();
        assert_eq!(m.required_references().count(), 1);
    }

    #[test]
    fn non_distributable_layers_are_external_without_urls() {
        let mut layer = d(2);
        layer["mediaType"] = json!("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
        let m = parse(
            Some(media_type::OCI_MANIFEST),
            json!({"schemaVersion": 2, "config": d(1), "layers": [layer]}),
        )
        .unwrap();
        assert_eq!(m.required_references().count(), 1);
    }

    #[test]
    fn refuses_invalid_manifests() {
        assert!(matches!(
            ParsedManifest::parse(None, b"{not json"),
            Err(ManifestError::Json(_))
        ));
        assert!(matches!(
            ParsedManifest::parse(None, b"[]"),
            Err(ManifestError::Schema(_))
        ));
        assert!(matches!(
            parse(None, json!({"schemaVersion": 2})),
            Err(ManifestError::UnknownType)
        ));
        assert!(matches!(
            parse(
                Some(media_type::OCI_MANIFEST),
                json!({"schemaVersion": 1, "config": d(1), "layers": []})
            ),
            Err(ManifestError::SchemaVersion)
        ));
        assert!(matches!(
            parse(
                Some(media_type::OCI_INDEX),
                json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": d(1), "layers": []})
            ),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        assert!(matches!(
            parse(
                Some(media_type::OCI_MANIFEST),
                json!({"schemaVersion": 2, "config": d(1)})
            ),
            Err(ManifestError::MissingField(_, "layers"))
        ));
        let mut bad = d(1);
        bad["digest"] = json!("sha256:nothex");
        assert!(matches!(
            parse(
                Some(media_type::OCI_MANIFEST),
                json!({"schemaVersion": 2, "config": bad, "layers": []})
            ),
            Err(ManifestError::Schema(_))
        ));
        let mut negative = d(1);
        negative["size"] = json!(-1);
        assert!(matches!(
            parse(
                Some(media_type::OCI_MANIFEST),
                json!({"schemaVersion": 2, "config": negative, "layers": []})
            ),
            Err(ManifestError::Schema(_))
        ));
        assert!(matches!(
            parse(
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                json!({"schemaVersion": 2, "config": d(1), "layers": []})
            ),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
    }
}
