//! The blob fence and repository links: the push side of garbage collection.
//!
//! A push claims a blob's row before committing its bytes, and links it only while the
//! row exists and is not marked deleting, holding the row `FOR SHARE` until its
//! transaction commits, so a collector (which takes the row `FOR UPDATE` before it
//! decides) either sees the link or makes the push wait and then refuse.

use super::group_read::Lookup;
use super::{PgResult, Transaction};
use crate::meta::MetaResult;
use crate::meta::{BlobClaim, Refusal};
use deadpool_postgres::GenericClient;

/// Makes or touches the blob's row, unless it is being deleted.
pub async fn claim(tx: &Transaction<'_>, digest: &str, size: u64, now_ms: i64) -> PgResult<BlobClaim> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO blobs (digest, size, touched_ms, deleting) VALUES ($1, $2, $3, false)
             ON CONFLICT (digest) DO NOTHING",
        )
        .await?;
    let touch = tx
        .prepare_cached("UPDATE blobs SET touched_ms = $2 WHERE digest = $1 AND NOT deleting")
        .await?;
    let deleting = tx
        .prepare_cached("SELECT deleting FROM blobs WHERE digest = $1")
        .await?;
    // A row removed between two statements (a collection forgetting it) sends us round
    // again; the insert then wins.
    loop {
        if tx.execute(&insert, &[&digest, &(size as i64), &now_ms]).await? > 0 {
            return Ok(BlobClaim::New);
        }
        if tx.execute(&touch, &[&digest, &now_ms]).await? > 0 {
            return Ok(BlobClaim::Held);
        }
        if tx.query_opt(&deleting, &[&digest]).await?.is_some() {
            return Ok(BlobClaim::Deleting);
        }
    }
}

/// Reads the blob's fence row `FOR SHARE`, held until the transaction ends, so that no
/// collector marks it meanwhile; see [`linkable_row`].
pub const LOCK_BLOB: &str = "SELECT deleting FROM blobs WHERE digest = $1 FOR SHARE";

/// Makes a link (made again, a link is as new).
pub const UPSERT_LINK: &str = "INSERT INTO links (repo, digest, size, created_ms) VALUES ($1, $2, $3, $4)
     ON CONFLICT (repo, digest) DO UPDATE SET size = EXCLUDED.size, created_ms = EXCLUDED.created_ms";

pub const ENSURE_REPOSITORY: &str = "INSERT INTO repositories (name) VALUES ($1) ON CONFLICT DO NOTHING";

/// `Err(BlobGone)` unless [`LOCK_BLOB`] found the row, not being deleted.
pub fn linkable_row(row: Option<tokio_postgres::Row>, digest: &str) -> Result<(), Refusal> {
    match row.map(|r| r.get::<_, bool>(0)) {
        Some(false) => Ok(()),
        _ => Err(Refusal::BlobGone(digest.parse().expect("a digest wharf wrote"))),
    }
}

/// `Err(BlobGone)` unless the blob's row exists and is not being deleted; holds the row
/// `FOR SHARE` until the transaction ends, so no collector marks it meanwhile.
pub async fn linkable(tx: &Transaction<'_>, digest: &str) -> PgResult<Result<(), Refusal>> {
    let stmt = tx.prepare_cached(LOCK_BLOB).await?;
    Ok(linkable_row(tx.query_opt(&stmt, &[&digest]).await?, digest))
}

/// Links a blob into `repo` (made again, a link is as new), unless its fence row says
/// its bytes are not stored or are being deleted.
pub async fn link(tx: &Transaction<'_>, repo: &str, digest: &str, size: u64) -> PgResult<Result<(), Refusal>> {
    if let Err(refused) = linkable(tx, digest).await? {
        return Ok(Err(refused));
    }
    let upsert = tx.prepare_cached(UPSERT_LINK).await?;
    let now = super::millis(std::time::SystemTime::now());
    tx.execute(&upsert, &[&repo, &digest, &(size as i64), &now]).await?;
    ensure_repository(tx, repo).await?;
    Ok(Ok(()))
}

/// Records that `repo` exists (it holds something now).
pub async fn ensure_repository(tx: &Transaction<'_>, repo: &str) -> PgResult<()> {
    let stmt = tx.prepare_cached(ENSURE_REPOSITORY).await?;
    tx.execute(&stmt, &[&repo]).await?;
    Ok(())
}

/// The size of a blob linked into a repository, looked up in groups (see
/// [`super::group_read`]).
pub struct Linked;

impl Lookup for Linked {
    type Answer = u64;
    const SQL: &'static str =
        "SELECT l.size, k.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(repo, digest, i)
         JOIN links l ON l.repo = k.repo COLLATE \"C\" AND l.digest = k.digest COLLATE \"C\"";
    fn answer(row: &tokio_postgres::Row) -> MetaResult<u64> {
        Ok(row.try_get::<_, i64>(0).map_err(super::db_err)? as u64)
    }
}

pub async fn linked(c: &impl GenericClient, repo: &str, digest: &str) -> PgResult<Option<u64>> {
    let stmt = c
        .prepare_cached("SELECT size FROM links WHERE repo = $1 AND digest = $2")
        .await?;
    Ok(c.query_opt(&stmt, &[&repo, &digest])
        .await?
        .map(|r| r.get::<_, i64>(0) as u64))
}

/// (digest, size) of those of `digests` linked into `repo`.
pub async fn linked_many(c: &impl GenericClient, repo: &str, digests: &[String]) -> PgResult<Vec<tokio_postgres::Row>> {
    let stmt = c
        .prepare_cached("SELECT digest, size FROM links WHERE repo = $1 AND digest = ANY($2)")
        .await?;
    c.query(&stmt, &[&repo, &digests]).await
}

pub async fn unlink(c: &impl GenericClient, repo: &str, digest: &str) -> PgResult<bool> {
    let stmt = c
        .prepare_cached("DELETE FROM links WHERE repo = $1 AND digest = $2")
        .await?;
    Ok(c.execute(&stmt, &[&repo, &digest]).await? > 0)
}

/// The size of `digest` if any repository links it.
pub async fn known(c: &impl GenericClient, digest: &str) -> PgResult<Option<u64>> {
    let stmt = c
        .prepare_cached("SELECT size FROM links WHERE digest = $1 LIMIT 1")
        .await?;
    Ok(c.query_opt(&stmt, &[&digest]).await?.map(|r| r.get::<_, i64>(0) as u64))
}
