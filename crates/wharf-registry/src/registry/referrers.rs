//! The referrers API (end-12): manifests whose `subject` is a digest.

use super::{Registry, RegistryResult};
use crate::meta::ManifestRecord;
use wharf_oci::{Digest, RepositoryName};

impl Registry {
    /// Manifests of `name` whose subject is `subject`, optionally of one artifact type.
    /// An unknown repository or subject has no referrers: an empty list, never a 404.
    pub async fn referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> RegistryResult<Vec<ManifestRecord>> {
        Ok(self.meta.referrers(name, subject, artifact_type).await?)
    }
}
