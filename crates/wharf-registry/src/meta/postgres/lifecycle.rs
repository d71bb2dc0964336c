//! The storage lifecycle's calls (immutable tags, retention, quotas), each inside the
//! transaction that makes the change it guards.
//!
//! Two transactions at READ COMMITTED that each read and then write can both pass a
//! check the other's write would fail. Each check here therefore first takes a lock
//! the racing transaction also needs, in a statement of its own, and reads in the next
//! statement (which sees whatever the lock's previous holder committed):
//! - a fixed (immutable) tag: a transaction-scoped advisory lock on (repository, tag),
//!   so two pushes setting the same absent tag take turns and the second finds it set;
//! - deleting a manifest a fixed tag may point at: the manifest's row `FOR UPDATE`,
//!   which a push of that manifest (its upsert) also locks before it tags it;
//! - quotas: an advisory lock on the repository (and one on the registry for the total
//!   quota), held to the commit of the link, so concurrent pushes count each other.
//!
//! The advisory locks are taken before any row lock of the transaction, always in the
//! same order (tags, repository, registry), so they cannot deadlock with each other or
//! with the collector (which takes none).

use super::{PgResult, Transaction};
use crate::meta::{Limits, Refusal, TagFilter};
use deadpool_postgres::GenericClient;
use wharf_oci::Tag;

/// Takes the transaction-scoped advisory lock of `name` (repository names and tags
/// hold no `:`, so `tag:REPO:TAG` and `quota:REPO` name one thing each), its 64-bit
/// key the name hashed with a seed of wharf's own.
async fn lock(tx: &Transaction<'_>, name: &str) -> PgResult<()> {
    let stmt = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, 2003329394))")
        .await?;
    tx.execute(&stmt, &[&name]).await?;
    Ok(())
}

/// `Err(TagImmutable)` when one of `fixed` points at a manifest other than `digest`;
/// holds each one's lock to the commit, so that no other push sets it meanwhile.
pub async fn guard_fixed_tags(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &str,
    fixed: &[Tag],
) -> PgResult<Result<(), Refusal>> {
    let mut fixed: Vec<&Tag> = fixed.iter().collect();
    fixed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    for tag in &fixed {
        lock(tx, &format!("tag:{repo}:{}", tag.as_str())).await?;
    }
    let current = tx
        .prepare_cached("SELECT digest FROM tags WHERE repo = $1 AND tag = $2")
        .await?;
    for tag in fixed {
        let row = tx.query_opt(&current, &[&repo, &tag.as_str()]).await?;
        let points_at: Option<String> = row.map(|r| r.get(0));
        if let Some(other) = points_at.filter(|d| d != digest) {
            return Ok(Err(Refusal::TagImmutable {
                tag: tag.clone(),
                current: other.parse().expect("a digest wharf wrote"),
            }));
        }
    }
    Ok(Ok(()))
}

/// A tag `fixed` accepts that points at manifest `digest` of `repo`, read after taking
/// the manifest's row `FOR UPDATE` (a push tagging it waits for this transaction).
pub async fn guarded_tag(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &str,
    fixed: &TagFilter,
) -> PgResult<Option<String>> {
    let lock = tx
        .prepare_cached("SELECT 1 FROM manifests WHERE repo = $1 AND digest = $2 FOR UPDATE")
        .await?;
    tx.query_opt(&lock, &[&repo, &digest]).await?;
    let tags = tx
        .prepare_cached("SELECT tag FROM tags WHERE repo = $1 AND digest = $2 ORDER BY tag")
        .await?;
    let rows = tx.query(&tags, &[&repo, &digest]).await?;
    Ok(rows.into_iter().map(|r| r.get::<_, String>(0)).find(|t| fixed(t)))
}

/// Removes `tag` only where it still points at `digest`.
pub async fn delete_tag_at(c: &impl GenericClient, repo: &str, tag: &str, digest: &str) -> PgResult<bool> {
    let stmt = c
        .prepare_cached("DELETE FROM tags WHERE repo = $1 AND tag = $2 AND digest = $3")
        .await?;
    Ok(c.execute(&stmt, &[&repo, &tag, &digest]).await? > 0)
}

/// Bytes linked into `repo`.
pub async fn repository_usage(c: &impl GenericClient, repo: &str) -> PgResult<u64> {
    let stmt = c
        .prepare_cached("SELECT COALESCE(SUM(size), 0)::BIGINT FROM links WHERE repo = $1")
        .await?;
    Ok(c.query_one(&stmt, &[&repo]).await?.get::<_, i64>(0).max(0) as u64)
}

/// Bytes of the distinct digests any repository links.
pub async fn total_usage(c: &impl GenericClient) -> PgResult<u64> {
    let stmt = c
        .prepare_cached(
            "SELECT COALESCE(SUM(size), 0)::BIGINT FROM (SELECT MAX(size) AS size FROM links GROUP BY digest) AS d",
        )
        .await?;
    Ok(c.query_one(&stmt, &[]).await?.get::<_, i64>(0).max(0) as u64)
}

/// The refusal of linking `size` bytes under `digest` into `repo` when it would pass
/// `limits`; takes the quotas' locks first, held to the commit of the link.
pub async fn admit(
    tx: &Transaction<'_>,
    repo: &str,
    digest: &str,
    size: u64,
    limits: Limits,
) -> PgResult<Result<(), Refusal>> {
    if limits.is_none() {
        return Ok(Ok(()));
    }
    if limits.repository.is_some() {
        lock(tx, &format!("quota:{repo}")).await?;
    }
    if limits.total.is_some() {
        lock(tx, "quota total").await?;
    }
    let linked_here = super::fence::linked(tx, repo, digest).await?.is_some();
    let repo_usage = match limits.repository {
        Some(_) if !linked_here => Some(repository_usage(tx, repo).await?),
        _ => None,
    };
    let total_usage = match limits.total {
        Some(_) if !linked_here && super::fence::known(tx, digest).await?.is_none() => Some(total_usage(tx).await?),
        _ => None,
    };
    Ok(
        match crate::meta::quota::refusal_for(limits, size, repo_usage, total_usage) {
            Some(over) => Err(over),
            None => Ok(()),
        },
    )
}
