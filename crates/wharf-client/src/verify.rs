//! Checking cosign-style signatures of a manifest with a public key: those attached as
//! referrers (what `wharf sign` writes) and those under cosign's tag scheme
//! (`sha256-<hex>.sig`, a manifest whose layers each carry one signature).

use crate::client::Client;
use crate::document::ImageManifest;
use crate::error::{Error, Result};
use crate::reference::Repository;
use crate::signature::{verify_payload, SIGNATURE_ANNOTATION, SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING_MEDIA_TYPE};
use wharf_oci::{Digest, Reference, Tag};

/// The largest simple-signing payload read.
const PAYLOAD_LIMIT: u64 = 1 << 20;

/// One signature found for a manifest, and what checking it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSignature {
    /// `referrer` or `tag`.
    pub source: &'static str,
    /// The manifest holding the signature.
    pub manifest: Digest,
    /// The image name the payload vouches for (`critical.identity.docker-reference`).
    pub identity: Option<String>,
    /// `Ok` when the key verifies the signature and the payload names the manifest.
    pub outcome: std::result::Result<(), String>,
}

/// `sha256-<hex>.sig`: cosign's tag for the signatures of `subject`.
pub fn signature_tag(subject: &Digest) -> Tag {
    format!("{}.sig", subject.to_string().replacen(':', "-", 1))
        .parse()
        .expect("a digest makes a valid tag")
}

impl Client {
    /// Every cosign-style signature of `subject` in `repo` (referrers, then the tag
    /// scheme), each checked with the PEM P-256 `public_key`.
    pub async fn check_signatures(
        &self,
        repo: &Repository,
        subject: &Digest,
        public_key: &str,
    ) -> Result<Vec<CheckedSignature>> {
        let mut found = Vec::new();
        for referrer in self.referrers(repo, subject, Some(SIGNATURE_ARTIFACT_TYPE)).await? {
            let manifest = self.get_manifest(repo, &Reference::Digest(referrer.digest)).await?;
            found.extend(
                self.check_manifest(repo, subject, &manifest, "referrer", public_key)
                    .await?,
            );
        }
        match self.get_manifest(repo, &Reference::Tag(signature_tag(subject))).await {
            Ok(manifest) => found.extend(self.check_manifest(repo, subject, &manifest, "tag", public_key).await?),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        Ok(found)
    }

    async fn check_manifest(
        &self,
        repo: &Repository,
        subject: &Digest,
        manifest: &crate::manifests::Manifest,
        source: &'static str,
        public_key: &str,
    ) -> Result<Vec<CheckedSignature>> {
        let Ok(image) = serde_json::from_slice::<ImageManifest>(&manifest.bytes) else {
            return Ok(Vec::new());
        };
        let mut checked = Vec::new();
        for layer in image
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        {
            let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
                continue;
            };
            if layer.size > PAYLOAD_LIMIT {
                return Err(Error::Protocol(format!(
                    "{}: the signed payload is larger than 1 MiB",
                    layer.digest
                )));
            }
            let mut payload = Vec::new();
            self.pull_blob_to_writer(repo, &layer.digest, Some(layer.size), &mut payload)
                .await?;
            let parsed: Option<serde_json::Value> = serde_json::from_slice(&payload).ok();
            let field = |path: &[&str]| {
                let mut v = parsed.as_ref()?;
                for p in path {
                    v = v.get(*p)?;
                }
                v.as_str().map(str::to_string)
            };
            let identity = field(&["critical", "identity", "docker-reference"]);
            let named = field(&["critical", "image", "docker-manifest-digest"]);
            let outcome = match verify_payload(public_key, &payload, signature) {
                Err(Error::Invalid(m)) if m.starts_with("the key is not") => return Err(Error::Invalid(m)),
                Err(e) => Err(e.to_string()),
                Ok(()) if named.as_deref() != Some(subject.to_string().as_str()) => Err(format!(
                    "the payload signs {}, not {subject}",
                    named.as_deref().unwrap_or("no manifest")
                )),
                Ok(()) => Ok(()),
            };
            checked.push(CheckedSignature {
                source,
                manifest: manifest.digest.clone(),
                identity,
                outcome,
            });
        }
        Ok(checked)
    }
}
