//! Building a multi-platform image: an OCI image index (or Docker manifest list) whose
//! children are manifests already in the repository, each with its platform, as
//! `crane index append` and `regctl index create` make them.

use crate::document::{Descriptor, ImageIndex, ImageManifest, Platform};
use crate::error::{Error, Result};
use crate::manifests::Manifest;
use crate::{Client, Reference, Repository};
use wharf_oci::media_type;

/// The largest image config read to learn a child's platform.
const CONFIG_LIMIT: u64 = 4 << 20;

/// One child of an index to build: a manifest in the repository, and its platform when
/// the caller knows it (otherwise it is read from the image's config).
#[derive(Debug, Clone)]
pub struct IndexChild {
    pub reference: Reference,
    pub platform: Option<Platform>,
}

impl Client {
    /// An index of `children` (in order), each described by its manifest's media type,
    /// digest and size and its platform. `docker_list` makes a Docker manifest list
    /// instead of an OCI index; `annotations` are the index's. Nothing is pushed: see
    /// [`Client::push_index`].
    pub async fn build_index(
        &self,
        repo: &Repository,
        children: &[IndexChild],
        docker_list: bool,
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Result<Manifest> {
        if children.is_empty() {
            return Err(Error::Invalid("an index needs at least one manifest".into()));
        }
        let mut manifests = Vec::with_capacity(children.len());
        for child in children {
            let manifest = self.get_manifest(repo, &child.reference).await?;
            if manifest.is_index() {
                return Err(Error::Invalid(format!(
                    "{repo}:{}: is an index itself; name one of its platform manifests",
                    child.reference
                )));
            }
            let platform = match &child.platform {
                Some(p) => Some(p.clone()),
                None => self.platform_of(repo, &manifest).await?,
            };
            let mut descriptor = manifest.descriptor();
            descriptor.platform = platform;
            manifests.push(descriptor);
        }
        let mut index = ImageIndex::new(manifests);
        index.annotations = annotations;
        let media = if docker_list {
            if let Some(d) = index
                .manifests
                .iter()
                .find(|d| d.media_type != media_type::DOCKER_MANIFEST)
            {
                return Err(Error::Invalid(format!(
                    "a Docker manifest list holds Docker image manifests only; {} is {}",
                    d.digest, d.media_type
                )));
            }
            media_type::DOCKER_MANIFEST_LIST
        } else {
            media_type::OCI_INDEX
        };
        index.media_type = Some(media.to_string());
        Ok(Manifest::new(media, index.to_bytes()))
    }

    /// The platform an image's config names (`os`, `architecture`, `variant`,
    /// `os.version`); `None` for artifacts whose config is not an image config.
    async fn platform_of(&self, repo: &Repository, manifest: &Manifest) -> Result<Option<Platform>> {
        let image: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| Error::Invalid(format!("{}: not an image manifest: {e}", manifest.digest)))?;
        let config: &Descriptor = &image.config;
        if config.media_type != media_type::OCI_CONFIG && config.media_type != media_type::DOCKER_CONFIG {
            return Ok(None);
        }
        if config.size > CONFIG_LIMIT {
            return Err(Error::Protocol(format!(
                "{}: the image config is larger than 4 MiB",
                config.digest
            )));
        }
        let mut bytes = Vec::new();
        self.pull_blob_to_writer(repo, &config.digest, Some(config.size), &mut bytes)
            .await?;
        #[derive(serde::Deserialize)]
        struct ConfigPlatform {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
            #[serde(rename = "os.version")]
            os_version: Option<String>,
        }
        let found: ConfigPlatform = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("{}: the image config is not valid JSON: {e}", config.digest)))?;
        Ok(match (found.os, found.architecture) {
            (Some(os), Some(architecture)) if !os.is_empty() && !architecture.is_empty() => Some(Platform {
                architecture,
                os,
                variant: found.variant.filter(|v| !v.is_empty()),
                os_version: found.os_version.filter(|v| !v.is_empty()),
            }),
            _ => None,
        })
    }
}
