//! Referrers: the manifests whose `subject` is a given manifest (signatures, SBOMs,
//! attestations). Uses the referrers API, and the referrers tag schema (spec.md,
//! "Referrers Tag Schema") on registries that lack it.

use crate::auth::Scopes;
use crate::client::{header_str, read_limited, Call, Client};
use crate::document::{Descriptor, ImageIndex, ImageManifest};
use crate::error::{Error, Result};
use crate::manifests::{Manifest, PushedManifest};
use crate::reference::Repository;
use http::{header, Method};
use wharf_oci::{media_type, Digest, Endpoint, Reference, Tag};

/// The tag under which clients keep the referrers of `digest` where the registry has
/// no referrers API: `<algorithm>-<encoded>`, truncated to 32 and 64 characters, with
/// characters a tag cannot hold replaced by `-`.
pub fn referrers_tag(digest: &Digest) -> Tag {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .take(max)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let algorithm = digest.algorithm().to_string();
    format!("{}-{}", clean(&algorithm, 32), clean(digest.hex(), 64))
        .parse()
        .expect("a cleaned digest is a valid tag")
}

/// The descriptor a referrers list holds for a pushed manifest: its artifact type and
/// every annotation it has.
pub fn referrer_descriptor(manifest: &Manifest) -> Result<Descriptor> {
    let mut descriptor = manifest.descriptor();
    if manifest.is_index() {
        let index: ImageIndex = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| Error::Invalid(format!("the index is not valid: {e}")))?;
        descriptor.artifact_type = index.artifact_type;
        descriptor.annotations = index.annotations;
    } else {
        let image: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| Error::Invalid(format!("the manifest is not valid: {e}")))?;
        descriptor.artifact_type = Some(image.effective_artifact_type());
        descriptor.annotations = image.annotations;
    }
    Ok(descriptor)
}

impl Client {
    /// The referrers of `subject`, only those of `artifact_type` when given.
    pub async fn referrers(
        &self,
        repo: &Repository,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let endpoint = Endpoint::Referrers {
            name: repo.name.clone(),
            digest: subject.clone(),
        };
        let mut url = self.url(&repo.registry, &endpoint);
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let call = Call::new(
            &repo.registry,
            Method::GET,
            url,
            Scopes::repository(repo.name.as_str(), "pull"),
        )
        .header(header::ACCEPT, media_type::OCI_INDEX);
        let response = self.send(&call).await?;
        let list = match response.status().as_u16() {
            200 => {
                let filtered = header_str(&response, "oci-filters-applied")
                    .is_some_and(|f| f.split(',').any(|f| f.trim() == "artifactType"));
                let bytes = read_limited(response, crate::manifests::MAX_MANIFEST_SIZE).await?;
                let index: ImageIndex = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Protocol(format!("{repo}: the referrers list is not an image index: {e}")))?;
                if filtered {
                    return Ok(index.manifests);
                }
                index.manifests
            }
            404 => self
                .referrers_from_tag(repo, subject)
                .await?
                .map(|i| i.manifests)
                .unwrap_or_default(),
            _ => return Err(self.error_from(&call, response).await),
        };
        Ok(match artifact_type {
            Some(t) => list
                .into_iter()
                .filter(|d| d.artifact_type.as_deref() == Some(t))
                .collect(),
            None => list,
        })
    }

    /// Whether the registry serves the referrers API for `repo` (asked for the
    /// referrers of `subject`): true for a 200, false for a 404 (a registry without it,
    /// such as CNCF Distribution 2.8), an error otherwise.
    pub async fn has_referrers_api(&self, repo: &Repository, subject: &Digest) -> Result<bool> {
        let endpoint = Endpoint::Referrers {
            name: repo.name.clone(),
            digest: subject.clone(),
        };
        let call = Call::new(
            &repo.registry,
            Method::GET,
            self.url(&repo.registry, &endpoint),
            Scopes::repository(repo.name.as_str(), "pull"),
        )
        .header(header::ACCEPT, media_type::OCI_INDEX);
        let response = self.send(&call).await?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.error_from(&call, response).await),
        }
    }

    /// Pushes a manifest that has a `subject`. Where the registry does not index the
    /// subject itself (no `OCI-Subject` in its answer), the referrers tag of the
    /// subject is updated to list the new manifest.
    pub async fn push_referrer(
        &self,
        repo: &Repository,
        manifest: &Manifest,
        subject: &Digest,
        tag: Option<&Tag>,
    ) -> Result<PushedManifest> {
        let reference = match tag {
            Some(t) => Reference::Tag(t.clone()),
            None => Reference::Digest(manifest.digest.clone()),
        };
        let pushed = self.put_manifest(repo, &reference, manifest).await?;
        if !pushed.subject_indexed {
            let descriptor = referrer_descriptor(manifest)?;
            self.add_to_referrers_tag(repo, subject, descriptor).await?;
        }
        Ok(pushed)
    }

    async fn add_to_referrers_tag(&self, repo: &Repository, subject: &Digest, descriptor: Descriptor) -> Result<()> {
        let mut index = self
            .referrers_from_tag(repo, subject)
            .await?
            .unwrap_or_else(|| ImageIndex::new(Vec::new()));
        if index.manifests.iter().any(|d| d.digest == descriptor.digest) {
            return Ok(());
        }
        index.manifests.push(descriptor);
        let list = Manifest::new(media_type::OCI_INDEX, index.to_bytes());
        self.put_manifest(repo, &Reference::Tag(referrers_tag(subject)), &list)
            .await?;
        Ok(())
    }

    /// The index under the referrers tag, `None` when the tag does not exist. Something
    /// else under that tag is an error rather than something to overwrite.
    async fn referrers_from_tag(&self, repo: &Repository, subject: &Digest) -> Result<Option<ImageIndex>> {
        let reference = Reference::Tag(referrers_tag(subject));
        let manifest = match self.get_manifest(repo, &reference).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if manifest.media_type != media_type::OCI_INDEX {
            return Err(Error::Protocol(format!(
                "{repo}:{reference} holds a {} instead of the image index of referrers",
                manifest.media_type
            )));
        }
        serde_json::from_slice(&manifest.bytes)
            .map(Some)
            .map_err(|e| Error::Protocol(format!("{repo}:{reference} is not a valid image index: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_schema_matches_the_spec_examples() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(referrers_tag(&d).as_str(), format!("sha256-{}", "a".repeat(64)));
        let d: Digest = format!("sha512:{}", "b".repeat(128)).parse().unwrap();
        assert_eq!(referrers_tag(&d).as_str(), format!("sha512-{}", "b".repeat(64)));
    }

    #[test]
    fn referrer_descriptors_carry_type_and_annotations() {
        let mut image = ImageManifest::new(Descriptor::of("application/x.cfg", b"{}"), vec![]);
        image.annotations.insert("k".into(), "v".into());
        let m = Manifest::new(media_type::OCI_MANIFEST, image.to_bytes());
        let d = referrer_descriptor(&m).unwrap();
        assert_eq!(d.artifact_type.as_deref(), Some("application/x.cfg"));
        assert_eq!(d.annotations.get("k").map(String::as_str), Some("v"));
        assert_eq!(d.digest, m.digest);
    }
}
