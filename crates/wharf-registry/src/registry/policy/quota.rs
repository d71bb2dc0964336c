//! Quotas: a byte limit per repository glob, and one for the registry as a whole. A
//! repository's usage is the sum of the sizes of what is linked into it (blobs and
//! manifests), each blob once however many manifests use it; the registry's is the sum
//! of the sizes of the distinct blobs and manifests any repository links, each once
//! however many repositories link it. Both are read from the metadata store. A push
//! that would take either over its limit (an upload, a mount, a manifest) is refused
//! with `403 DENIED`, saying the usage and the limit; content the repository (for the
//! total: the registry) holds already is never refused.
//!
//! The limit is checked twice: early, before the push's bytes are stored (so a push
//! that cannot fit is refused before it uploads), and again by the metadata store in
//! the transaction that links ([`MetaStore::link_blob_within`] and the like), so that
//! pushes in flight at the same moment cannot together pass a limit that each of them
//! passes alone. A push refused at the link leaves only unlinked bytes, which the
//! collector removes after its grace period.
//!
//! [`MetaStore::link_blob_within`]: crate::meta::MetaStore::link_blob_within

use super::{Globs, Policies};
use crate::meta::{quota_refusal, Limits, MetaError, QuotaScope, Refusal};
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

    /// The limits a link into `repo` must keep within.
    pub fn limits_for(&self, repo: &RepositoryName) -> Limits {
        Limits {
            repository: self.quota_for(repo).map(|q| q.limit),
            total: self.total_quota,
        }
    }

    /// The answer (403 DENIED) to a push refused for a quota, naming the usage, what
    /// the push adds and the limit.
    pub fn over_quota(&self, repo: &RepositoryName, refusal: &Refusal) -> Option<RegistryError> {
        let Refusal::OverQuota {
            scope,
            usage,
            incoming,
            limit,
        } = refusal
        else {
            return None;
        };
        let message = match scope {
            QuotaScope::Repository => format!(
                "repository {repo} is over its quota: it holds {usage} bytes, this push adds {incoming} \
                 and the limit is {limit} bytes (quota for {}); delete tags or manifests to make room",
                self.quota_for(repo)
                    .map(|q| q.repositories.describe())
                    .unwrap_or_else(|| repo.to_string())
            ),
            QuotaScope::Total => format!(
                "the registry is over its total quota: it holds {usage} bytes, this push adds {incoming} \
                 and the limit is {limit} bytes; delete tags or manifests to make room"
            ),
        };
        let scope = match scope {
            QuotaScope::Repository => "repository",
            QuotaScope::Total => "total",
        };
        Some(
            RegistryError::new(ErrorCode::Denied, message).with_detail(
                serde_json::json!({ "scope": scope, "usage": usage, "incoming": incoming, "limit": limit }),
            ),
        )
    }
}

impl Registry {
    /// Refuses (403 DENIED) `incoming` more bytes into `repo` when they would take it
    /// (or the registry) over its quota; `digest`, when known, is not counted if `repo`
    /// (for the total: any repository) links it already. The early check: the metadata
    /// store checks again as it links.
    pub(crate) async fn admit_bytes(
        &self,
        repo: &RepositoryName,
        digest: Option<&Digest>,
        incoming: u64,
    ) -> RegistryResult<()> {
        let limits = self.config.policies.limits_for(repo);
        if limits.is_none() {
            return Ok(());
        }
        match quota_refusal(self.meta.as_ref(), repo, digest, incoming, limits).await? {
            Some(refusal) => Err(self
                .config
                .policies
                .over_quota(repo, &refusal)
                .expect("a quota refusal")),
            None => Ok(()),
        }
    }

    /// The metadata store's error, answered as a quota refusal when it is one.
    pub(crate) fn quota_answer(&self, repo: &RepositoryName, e: MetaError) -> RegistryError {
        match e.refusal().and_then(|r| self.config.policies.over_quota(repo, r)) {
            Some(answer) => answer,
            None => e.into(),
        }
    }
}
