//! Quotas: a byte limit per repository glob. A repository's usage is the sum of the
//! sizes of what is linked into it (blobs and manifests), each blob once however many
//! manifests use it, read from the metadata store. A push that would take it over the
//! limit (an upload, a mount, a manifest) is refused with `403 DENIED`, saying the
//! usage and the limit, before its bytes are stored under their digest; content the
//! repository holds already is never refused.
//!
//! The check is made before each push, not in the transaction that links: pushes to
//! the same repository in flight at the same moment can together pass the limit by at
//! most their own sizes.

use super::{Globs, Policies};
use crate::registry::{Registry, RegistryError, RegistryResult};
use wharf_oci::{Digest, ErrorCode, RepositoryName};

/// At most `limit` bytes in each repository matching `repositories` (each repository
/// its own limit). Where several quotas match, the first applies.
#[derive(Debug, Clone)]
pub struct Quota {
    pub repositories: Globs,
    pub limit: u64,
}

impl Quota {
    pub fn new<S: AsRef<str>>(repositories: &[S], limit: u64) -> Result<Quota, String> {
        Ok(Quota {
            repositories: Globs::new(repositories)?,
            limit,
        })
    }
}

impl Policies {
    /// The quota of `repo`, if one applies.
    pub fn quota_for(&self, repo: &RepositoryName) -> Option<&Quota> {
        self.quotas.iter().find(|q| q.repositories.matches(repo.as_str()))
    }
}

impl Registry {
    /// Refuses (403 DENIED) `incoming` more bytes into `repo` when they would take it
    /// over its quota; `digest`, when known, is not counted if `repo` links it already.
    pub(crate) async fn admit_bytes(
        &self,
        repo: &RepositoryName,
        digest: Option<&Digest>,
        incoming: u64,
    ) -> RegistryResult<()> {
        let Some(quota) = self.config.policies.quota_for(repo) else {
            return Ok(());
        };
        if let Some(digest) = digest {
            if self.meta.linked_blob(repo, digest).await?.is_some() {
                return Ok(());
            }
        }
        let usage = self.meta.repository_usage(repo).await?;
        if usage.saturating_add(incoming) <= quota.limit {
            return Ok(());
        }
        Err(RegistryError::new(
            ErrorCode::Denied,
            format!(
                "repository {repo} is over its quota: it holds {usage} bytes, this push adds {incoming} \
                 and the limit is {} bytes (quota for {}); delete tags or manifests to make room",
                quota.limit,
                quota.repositories.describe()
            ),
        )
        .with_detail(serde_json::json!({ "usage": usage, "incoming": incoming, "limit": quota.limit })))
    }
}
