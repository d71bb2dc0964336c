//! Whole images: blobs pushed in parallel (bounded), then the manifest; indexes over
//! pushed manifests; more tags on a manifest without sending anything else again;
//! artifacts built from files, as oras pushes them.

use crate::blobs::{BlobSource, PushedBlob};
use crate::client::Client;
use crate::document::{Descriptor, ImageIndex, ImageManifest};
use crate::error::{Error, Result};
use crate::manifests::Manifest;
use crate::reference::Repository;
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_oci::{media_type, Digest, Reference, Tag};

/// The annotation oras and others use for a layer's file name.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

impl Client {
    /// Pushes blobs, at most `concurrency` at once; the results keep the input order.
    /// Stops at the first failure.
    pub async fn push_blobs(
        &self,
        repo: &Repository,
        sources: Vec<Arc<dyn BlobSource>>,
        mount_from: Option<&Repository>,
    ) -> Result<Vec<PushedBlob>> {
        let concurrency = self.inner.config.concurrency.max(1);
        futures::stream::iter(sources)
            .map(|source| async move { self.push_blob(repo, source.as_ref(), mount_from).await })
            .buffered(concurrency)
            .try_collect()
            .await
    }

    /// Pushes an image: every blob it references (from `blobs`; those the manifest does
    /// not reference are refused, missing ones must already be in the repository),
    /// then the manifest under each tag, or by digest when there is none. A manifest
    /// with a `subject` keeps its referrers list up to date on registries without the
    /// referrers API.
    pub async fn push_image(
        &self,
        repo: &Repository,
        manifest: &Manifest,
        blobs: Vec<Arc<dyn BlobSource>>,
        tags: &[Tag],
    ) -> Result<Digest> {
        let image: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| Error::Invalid(format!("not an image manifest: {e}")))?;
        let referenced: Vec<&Digest> = std::iter::once(&image.config.digest)
            .chain(image.layers.iter().map(|l| &l.digest))
            .collect();
        if let Some(stray) = blobs.iter().find(|b| !referenced.contains(&b.digest())) {
            return Err(Error::Invalid(format!(
                "blob {} is not referenced by the manifest",
                stray.digest()
            )));
        }
        self.push_blobs(repo, blobs, None).await?;
        self.push_manifest_tagged(repo, manifest, image.subject.as_ref().map(|s| &s.digest), tags)
            .await
    }

    /// Pushes an index (or manifest list) whose children are already in the repository.
    pub async fn push_index(&self, repo: &Repository, index: &Manifest, tags: &[Tag]) -> Result<Digest> {
        let parsed: ImageIndex =
            serde_json::from_slice(&index.bytes).map_err(|e| Error::Invalid(format!("not an image index: {e}")))?;
        self.push_manifest_tagged(repo, index, parsed.subject.as_ref().map(|s| &s.digest), tags)
            .await
    }

    /// Puts more tags on the manifest `source` names: only the manifest's bytes are
    /// sent again, never its blobs.
    pub async fn tag(&self, repo: &Repository, source: &Reference, tags: &[Tag]) -> Result<Digest> {
        let manifest = self.get_manifest(repo, source).await?;
        for tag in tags {
            self.put_manifest(repo, &Reference::Tag(tag.clone()), &manifest).await?;
        }
        Ok(manifest.digest)
    }

    async fn push_manifest_tagged(
        &self,
        repo: &Repository,
        manifest: &Manifest,
        subject: Option<&Digest>,
        tags: &[Tag],
    ) -> Result<Digest> {
        let first = tags.first();
        match subject {
            Some(subject) => {
                self.push_referrer(repo, manifest, subject, first).await?;
            }
            None => {
                let reference = first
                    .map(|t| Reference::Tag(t.clone()))
                    .unwrap_or_else(|| Reference::Digest(manifest.digest.clone()));
                self.put_manifest(repo, &reference, manifest).await?;
            }
        }
        for tag in tags.iter().skip(1) {
            self.put_manifest(repo, &Reference::Tag(tag.clone()), manifest).await?;
        }
        Ok(manifest.digest.clone())
    }
}

/// An artifact manifest as oras writes one: the empty config (unless given one),
/// `artifactType`, the files as layers, annotations and an optional subject.
pub fn artifact_manifest(
    artifact_type: Option<&str>,
    config: Option<Descriptor>,
    layers: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
    subject: Option<Descriptor>,
) -> Manifest {
    let mut image = ImageManifest::new(config.unwrap_or_else(Descriptor::empty_config), layers);
    image.artifact_type = artifact_type.map(str::to_string);
    if image.artifact_type.is_none() && image.config.media_type == media_type::OCI_EMPTY {
        // The image spec asks for an artifactType whenever the config is empty.
        image.artifact_type = Some("application/vnd.unknown.artifact.v1".to_string());
    }
    image.annotations = annotations;
    image.subject = subject.map(|mut s| {
        // A subject points at a manifest; its annotations and platform are not needed.
        s.annotations.clear();
        s.platform = None;
        s
    });
    Manifest::new(media_type::OCI_MANIFEST, image.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_have_an_empty_config_and_a_type() {
        let layer = Descriptor::of("text/plain", b"hello");
        let m = artifact_manifest(None, None, vec![layer.clone()], BTreeMap::new(), None);
        let image: ImageManifest = serde_json::from_slice(&m.bytes).unwrap();
        assert_eq!(image.config, Descriptor::empty_config());
        assert_eq!(
            image.config.digest.to_string(),
            format!(
                "sha256:{}",
                "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
            )
        );
        assert_eq!(
            image.artifact_type.as_deref(),
            Some("application/vnd.unknown.artifact.v1")
        );
        assert_eq!(image.layers, vec![layer]);
        assert_eq!(m.media_type, media_type::OCI_MANIFEST);
    }
}
