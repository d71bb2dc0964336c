//! What the metadata store is told of quotas: the byte limits a link must stay within,
//! checked in the transaction that links, so that pushes racing each other cannot
//! together pass a limit each passes alone.

use super::{MetaResult, MetaStore, Refusal};
use wharf_oci::{Digest, RepositoryName};

/// The byte limits a new link must keep within; `None` is no limit.
///
/// Usage is counted once per blob: a repository's usage is the sum of the sizes of what
/// it links (blobs and manifests), the registry's the sum of the sizes of the distinct
/// digests any repository links. Linking what is linked already (into the repository,
/// or anywhere for the registry's total) adds nothing and is never refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The limit of the repository linked into.
    pub repository: Option<u64>,
    /// The limit of the registry as a whole.
    pub total: Option<u64>,
}

impl Limits {
    /// No limit at all: the check costs nothing.
    pub const NONE: Limits = Limits {
        repository: None,
        total: None,
    };

    pub fn is_none(&self) -> bool {
        self.repository.is_none() && self.total.is_none()
    }
}

/// Which limit a refused push would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// The quota of the repository pushed to.
    Repository,
    /// The registry's total quota.
    Total,
}

/// The refusal (if any) of linking `incoming` bytes under `digest` into `repo`, read
/// from `meta` with separate calls: exact only while nothing else links meanwhile.
/// What the defaults of the `*_within` calls check before linking, and what the
/// registry checks early, before a push's bytes are stored.
pub async fn quota_refusal<M: MetaStore + ?Sized>(
    meta: &M,
    repo: &RepositoryName,
    digest: Option<&Digest>,
    incoming: u64,
    limits: Limits,
) -> MetaResult<Option<Refusal>> {
    if let Some(limit) = limits.repository {
        let linked = match digest {
            Some(d) => meta.linked_blob(repo, d).await?.is_some(),
            None => false,
        };
        if !linked {
            let usage = meta.repository_usage(repo).await?;
            if usage.saturating_add(incoming) > limit {
                return Ok(Some(Refusal::OverQuota {
                    scope: QuotaScope::Repository,
                    usage,
                    incoming,
                    limit,
                }));
            }
        }
    }
    if let Some(limit) = limits.total {
        let linked = match digest {
            Some(d) => meta.known_blob(d).await?.is_some(),
            None => false,
        };
        if !linked {
            let usage = meta.total_usage().await?;
            if usage.saturating_add(incoming) > limit {
                return Ok(Some(Refusal::OverQuota {
                    scope: QuotaScope::Total,
                    usage,
                    incoming,
                    limit,
                }));
            }
        }
    }
    Ok(None)
}

/// The same check over usage figures an adapter read inside its transaction:
/// `repo_usage` is `None` when `repo` links the digest already, `total_usage` `None`
/// when some repository does.
pub fn refusal_for(
    limits: Limits,
    incoming: u64,
    repo_usage: Option<u64>,
    total_usage: Option<u64>,
) -> Option<Refusal> {
    let over = |scope, usage: Option<u64>, limit: Option<u64>| match (usage, limit) {
        (Some(usage), Some(limit)) if usage.saturating_add(incoming) > limit => Some(Refusal::OverQuota {
            scope,
            usage,
            incoming,
            limit,
        }),
        _ => None,
    };
    over(QuotaScope::Repository, repo_usage, limits.repository)
        .or_else(|| over(QuotaScope::Total, total_usage, limits.total))
}
