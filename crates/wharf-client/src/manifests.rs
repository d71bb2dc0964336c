//! Manifests: fetched with content negotiation and verified against their digest,
//! pushed by tag or digest, deleted.

use crate::auth::Scopes;
use crate::client::{header_str, read_limited, Call, Client};
use crate::document::Descriptor;
use crate::error::{Error, Result};
use crate::reference::Repository;
use bytes::Bytes;
use http::{header, Method};
use wharf_oci::{media_type, Digest, Endpoint, Reference};

/// Largest manifest the client accepts; the spec lets registries refuse beyond 4 MiB.
pub const MAX_MANIFEST_SIZE: usize = 8 * 1024 * 1024;

/// Every manifest format the client understands, for `Accept`.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    media_type::OCI_MANIFEST,
    media_type::OCI_INDEX,
    media_type::DOCKER_MANIFEST,
    media_type::DOCKER_MANIFEST_LIST,
];

/// A manifest as the registry holds it: exact bytes, their digest and media type.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Bytes,
}

impl Manifest {
    /// Wraps bytes to be pushed, computing their sha256 digest.
    pub fn new(media_type: impl Into<String>, bytes: impl Into<Bytes>) -> Manifest {
        let bytes = bytes.into();
        Manifest {
            media_type: media_type.into(),
            digest: Digest::sha256_of(&bytes),
            bytes,
        }
    }

    /// Whether it lists other manifests (OCI index, Docker manifest list).
    pub fn is_index(&self) -> bool {
        self.media_type == media_type::OCI_INDEX || self.media_type == media_type::DOCKER_MANIFEST_LIST
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.bytes.len() as u64)
    }
}

/// The outcome of a manifest push.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedManifest {
    pub digest: Digest,
    /// The registry said (`OCI-Subject`) it indexed the manifest's `subject` itself.
    pub subject_indexed: bool,
}

/// The media type of manifest bytes: the `Content-Type`, unless it is generic, else
/// the document's own `mediaType`, else what its fields imply.
pub fn media_type_of(content_type: Option<&str>, bytes: &[u8]) -> String {
    let ct = content_type.map(media_type::essence).unwrap_or("");
    if !ct.is_empty() && ct != "application/json" && ct != "application/octet-stream" && ct != "text/plain" {
        return ct.to_string();
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(mt), ..
        }) if !mt.is_empty() => mt,
        Ok(Probe { manifests: Some(_), .. }) => media_type::OCI_INDEX.to_string(),
        _ => media_type::OCI_MANIFEST.to_string(),
    }
}

impl Client {
    /// Fetches a manifest, accepting every format. A manifest fetched by digest must
    /// hash to it; one fetched by tag must hash to the `Docker-Content-Digest` the
    /// registry names, when it names one.
    /// Bytes that fail the check are fetched again, up to the retry budget.
    pub async fn get_manifest(&self, repo: &Repository, reference: &Reference) -> Result<Manifest> {
        let policy = &self.inner.config.retry;
        let mut attempt = 1;
        loop {
            match self.get_manifest_once(repo, reference).await {
                Err(e) if e.is_integrity() && attempt < policy.max_attempts => {
                    tracing::warn!("{e}; fetching it again");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn get_manifest_once(&self, repo: &Repository, reference: &Reference) -> Result<Manifest> {
        let call = self.manifest_call(repo, reference, Method::GET);
        let response = self.send(&call).await?;
        if !response.status().is_success() {
            return Err(self.error_from(&call, response).await);
        }
        let content_type = header_str(&response, "content-type").map(str::to_string);
        let announced = header_str(&response, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let bytes = read_limited(response, MAX_MANIFEST_SIZE).await?;
        let expected = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => announced,
        };
        let digest = match expected {
            Some(expected) => {
                let actual = Digest::of(expected.algorithm(), &bytes);
                if actual != expected {
                    return Err(Error::DigestMismatch {
                        what: format!("manifest {repo}:{reference}"),
                        expected,
                        actual,
                    });
                }
                // The manifest's identity is its sha256 unless the registry chose another.
                actual
            }
            None => Digest::sha256_of(&bytes),
        };
        Ok(Manifest {
            media_type: media_type_of(content_type.as_deref(), &bytes),
            digest,
            bytes,
        })
    }

    /// The descriptor of a manifest without fetching it, or `None` if there is none.
    /// Falls back to a GET when the registry's HEAD omits the digest.
    pub async fn head_manifest(&self, repo: &Repository, reference: &Reference) -> Result<Option<Descriptor>> {
        let call = self.manifest_call(repo, reference, Method::HEAD);
        let response = self.send(&call).await?;
        if response.status() == 404 {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.error_from(&call, response).await);
        }
        let digest = header_str(&response, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        // A HEAD's body is empty, so the size is read from the header itself.
        let size = header_str(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let content_type = header_str(&response, "content-type")
            .map(media_type::essence)
            .map(str::to_string);
        match (digest, size, content_type) {
            (Some(digest), Some(size), Some(mt))
                if MANIFEST_MEDIA_TYPES.contains(&mt.as_str()) || mt.contains("+json") =>
            {
                Ok(Some(Descriptor::new(mt, digest, size)))
            }
            _ => Ok(Some(self.get_manifest(repo, reference).await?.descriptor())),
        }
    }

    /// Pushes manifest bytes under a tag or their digest.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &Reference,
        manifest: &Manifest,
    ) -> Result<PushedManifest> {
        let endpoint = Endpoint::Manifest {
            name: repo.name.clone(),
            reference: reference.clone(),
        };
        let call = Call::new(
            &repo.registry,
            Method::PUT,
            self.url(&repo.registry, &endpoint),
            Scopes::repository(repo.name.as_str(), "pull,push"),
        )
        .header(header::CONTENT_TYPE, &manifest.media_type)
        .body(manifest.bytes.clone());
        let response = self.send(&call).await?;
        if !response.status().is_success() {
            return Err(self.error_from(&call, response).await);
        }
        if let Some(announced) = header_str(&response, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok()) {
            let actual = Digest::of(announced.algorithm(), &manifest.bytes);
            if announced != actual {
                return Err(Error::Protocol(format!(
                    "{repo}: the registry stored the manifest as {announced}, but its bytes are {actual}"
                )));
            }
        }
        Ok(PushedManifest {
            digest: manifest.digest.clone(),
            subject_indexed: response.headers().contains_key("oci-subject"),
        })
    }

    /// Deletes a manifest (by digest) or a tag (by tag; only that tag goes).
    pub async fn delete_manifest(&self, repo: &Repository, reference: &Reference) -> Result<()> {
        let endpoint = Endpoint::Manifest {
            name: repo.name.clone(),
            reference: reference.clone(),
        };
        let call = Call::new(
            &repo.registry,
            Method::DELETE,
            self.url(&repo.registry, &endpoint),
            Scopes::repository(repo.name.as_str(), "delete"),
        );
        let response = self.send(&call).await?;
        if !response.status().is_success() {
            return Err(self.error_from(&call, response).await);
        }
        Ok(())
    }

    fn manifest_call(&self, repo: &Repository, reference: &Reference, method: Method) -> Call {
        let endpoint = Endpoint::Manifest {
            name: repo.name.clone(),
            reference: reference.clone(),
        };
        Call::new(
            &repo.registry,
            method,
            self.url(&repo.registry, &endpoint),
            Scopes::repository(repo.name.as_str(), "pull"),
        )
        .header(header::ACCEPT, &MANIFEST_MEDIA_TYPES.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_header_or_document() {
        assert_eq!(media_type_of(Some(media_type::OCI_INDEX), b"{}"), media_type::OCI_INDEX);
        assert_eq!(
            media_type_of(
                Some("application/json"),
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            ),
            media_type::DOCKER_MANIFEST
        );
        assert_eq!(media_type_of(None, br#"{"manifests":[]}"#), media_type::OCI_INDEX);
        assert_eq!(media_type_of(None, br#"{"config":{}}"#), media_type::OCI_MANIFEST);
    }
}
