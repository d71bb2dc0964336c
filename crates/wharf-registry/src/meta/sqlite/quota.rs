//! Quotas checked inside the writer's transaction that links (see [`Limits`]): the
//! writer runs one transaction at a time, so the usage read here is the usage the
//! link adds to.

use crate::meta::{Limits, Refusal};
use rusqlite::{params, Connection, OptionalExtension};

/// Bytes linked into `repo`, each blob once.
pub fn repository_usage(c: &Connection, repo: &str) -> rusqlite::Result<u64> {
    c.prepare_cached("SELECT COALESCE(SUM(size), 0) FROM links WHERE repo = ?1")?
        .query_row(params![repo], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
}

/// Bytes of the distinct digests any repository links.
pub fn total_usage(c: &Connection) -> rusqlite::Result<u64> {
    c.prepare_cached("SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(size) AS size FROM links GROUP BY digest)")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
}

/// The refusal of linking `size` bytes under `digest` into `repo`, if it would pass
/// `limits`; nothing is read when there are none.
pub fn admit(
    tx: &Connection,
    repo: &str,
    digest: &str,
    size: u64,
    limits: Limits,
) -> rusqlite::Result<Option<Refusal>> {
    if limits.is_none() {
        return Ok(None);
    }
    let linked_here = tx
        .prepare_cached("SELECT 1 FROM links WHERE repo = ?1 AND digest = ?2")?
        .query_row(params![repo, digest], |_| Ok(()))
        .optional()?
        .is_some();
    let repo_usage = match limits.repository {
        Some(_) if !linked_here => Some(repository_usage(tx, repo)?),
        _ => None,
    };
    let total_usage = match limits.total {
        Some(_) if !linked_here => {
            let linked_anywhere = tx
                .prepare_cached("SELECT 1 FROM links WHERE digest = ?1 LIMIT 1")?
                .query_row(params![digest], |_| Ok(()))
                .optional()?
                .is_some();
            (!linked_anywhere).then(|| total_usage(tx)).transpose()?
        }
        _ => None,
    };
    Ok(crate::meta::quota::refusal_for(limits, size, repo_usage, total_usage))
}
