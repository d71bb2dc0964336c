//! Content descriptors and platforms (OCI image-spec; Docker's schema2 has the same
//! shape): one type for the registry, which parses manifests with it, and the client,
//! which reads and builds manifests with it.

use crate::digest::Digest;
use crate::media_type;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The empty JSON object `{}`, the config of artifacts that have none.
pub const EMPTY_JSON: &[u8] = b"{}";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// A platform that is not an object of strings reads as none: registries stored
    /// such indexes before they read platforms, and a client can only ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// `null` reads as none.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// `null` as the type's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Any value; `None` unless it reads as a `T`.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

impl Descriptor {
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            platform: None,
            urls: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The descriptor of `bytes` under the given media type (sha256).
    pub fn of(media_type: impl Into<String>, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64)
    }

    /// The empty config descriptor of artifacts.
    pub fn empty_config() -> Descriptor {
        Descriptor::of(media_type::OCI_EMPTY, EMPTY_JSON)
    }

    /// Layers fetched from elsewhere (`urls`, non-distributable types) are not copied.
    pub fn is_external(&self) -> bool {
        crate::manifest::is_external_layer(&self.media_type, self.urls.as_deref())
    }
}

/// An OS/architecture pair with its optional variant, as indexes describe their children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    // Required by the image spec, but defaulted (empty) so that a registry parsing an
    // index does not refuse one whose platform lacks them: it never needed them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let architecture = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next().filter(|p| !p.is_empty()).map(str::to_string);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant,
            os_version: None,
        })
    }

    /// The platform this program runs on, in OCI's words (`amd64`, not `x86_64`).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: std::env::consts::OS.to_string(),
            variant: None,
            os_version: None,
        }
    }

    /// Whether an index entry for `other` satisfies a request for `self`: OS and
    /// architecture equal, and the variant too when one was asked for.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_but_harmless_fields_read_as_absent() {
        let d: Descriptor = serde_json::from_str(
            r#"{"mediaType":"a/b","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "size":1,"annotations":null,"platform":"linux/amd64"}"#,
        )
        .unwrap();
        assert!(d.annotations.is_empty());
        assert_eq!(d.platform, None);
        let p: Platform = serde_json::from_str(r#"{"os":"linux"}"#).unwrap();
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", ""));
    }

    #[test]
    fn a_descriptor_round_trips_with_its_platform() {
        let mut d = Descriptor::of("application/vnd.oci.image.manifest.v1+json", b"{}");
        d.platform = Platform::parse("linux/arm64/v8");
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Descriptor>(&text).unwrap(), d);
        assert!(!text.contains("annotations"), "empty annotations are left out: {text}");
    }
}
