//! Upload sessions. A session's offset moves by compare-and-set in the database
//! ([`advance`]), so two replicas appending to one session at once cannot both record
//! their chunk: the second finds the offset moved and is told so. Before they append,
//! requests take the session's lease ([`take_lease`]; see `meta::lease`), so that the
//! second does not even store its bytes until the first is done; [`advance_leased`]
//! records a chunk only for the lease's holder.

use super::{db_err, millis, parsed, time, PgResult};
use crate::meta::{MetaResult, UploadSession};
use deadpool_postgres::GenericClient;

pub async fn create(c: &impl GenericClient, s: &UploadSession) -> PgResult<()> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO uploads (id, repo, received, algorithm, hasher_state, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &s.id,
            &s.repository.as_str(),
            &(s.offset as i64),
            &s.algorithm.as_str(),
            &s.hasher_state,
            &millis(s.updated),
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(c: &impl GenericClient, id: &str) -> MetaResult<Option<UploadSession>> {
    let stmt = c
        .prepare_cached("SELECT id, repo, received, algorithm, hasher_state, updated_ms FROM uploads WHERE id = $1")
        .await
        .map_err(db_err)?;
    let Some(row) = c.query_opt(&stmt, &[&id]).await.map_err(db_err)? else {
        return Ok(None);
    };
    Ok(Some(UploadSession {
        id: row.get(0),
        repository: parsed(&row, 1)?,
        offset: row.get::<_, i64>(2) as u64,
        algorithm: parsed(&row, 3)?,
        hasher_state: row.get(4),
        updated: time(row.get(5)),
    }))
}

/// Moves the session to `s.offset` if it is still at `expected`; whether it was.
pub async fn advance(c: &impl GenericClient, s: &UploadSession, expected: u64) -> PgResult<bool> {
    let stmt = c
        .prepare_cached(
            "UPDATE uploads SET received = $2, hasher_state = $3, updated_ms = $4 WHERE id = $1 AND received = $5",
        )
        .await?;
    let changed = c
        .execute(
            &stmt,
            &[
                &s.id,
                &(s.offset as i64),
                &s.hasher_state,
                &millis(s.updated),
                &(expected as i64),
            ],
        )
        .await?;
    Ok(changed > 0)
}

pub async fn delete(c: &impl GenericClient, id: &str) -> PgResult<bool> {
    let stmt = c.prepare_cached("DELETE FROM uploads WHERE id = $1").await?;
    Ok(c.execute(&stmt, &[&id]).await? > 0)
}

/// Ids of sessions idle since before `cutoff_ms`.
pub async fn idle(c: &impl GenericClient, cutoff_ms: i64) -> PgResult<Vec<String>> {
    let stmt = c.prepare_cached("SELECT id FROM uploads WHERE updated_ms < $1").await?;
    Ok(c.query(&stmt, &[&cutoff_ms]).await?.iter().map(|r| r.get(0)).collect())
}

/// Now, in milliseconds, by the database's clock (replicas' clocks may differ).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Gives `holder` the lease of `id` for `ttl_ms` if it is free, lapsed or already its;
/// `Some(true)` if it did, `Some(false)` if another holder has it (marked wanted then),
/// `None` if there is no such session.
pub async fn take_lease(c: &impl GenericClient, id: &str, holder: &str, ttl_ms: i64) -> PgResult<Option<bool>> {
    let take = c
        .prepare_cached(&format!(
            "UPDATE uploads SET lease_holder = $2, lease_until_ms = {NOW_MS} + $3, lease_wanted = false
             WHERE id = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until_ms < {NOW_MS})"
        ))
        .await?;
    if c.execute(&take, &[&id, &holder, &ttl_ms]).await? > 0 {
        return Ok(Some(true));
    }
    let want = c
        .prepare_cached("UPDATE uploads SET lease_wanted = true WHERE id = $1")
        .await?;
    Ok((c.execute(&want, &[&id]).await? > 0).then_some(false))
}

/// Extends `holder`'s lease of `id` to `ttl_ms` from now; whether it is wanted
/// elsewhere, or `None` when `holder` no longer holds it.
pub async fn renew_lease(c: &impl GenericClient, id: &str, holder: &str, ttl_ms: i64) -> PgResult<Option<bool>> {
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE uploads SET lease_until_ms = {NOW_MS} + $3 WHERE id = $1 AND lease_holder = $2
             RETURNING lease_wanted"
        ))
        .await?;
    Ok(c.query_opt(&stmt, &[&id, &holder, &ttl_ms])
        .await?
        .map(|row| row.get(0)))
}

pub async fn release_lease(c: &impl GenericClient, id: &str, holder: &str) -> PgResult<()> {
    let stmt = c
        .prepare_cached(
            "UPDATE uploads SET lease_holder = NULL, lease_until_ms = 0, lease_wanted = false
             WHERE id = $1 AND lease_holder = $2",
        )
        .await?;
    c.execute(&stmt, &[&id, &holder]).await?;
    Ok(())
}

/// [`advance`], only while `holder` holds the lease (`None`: while nobody does).
pub async fn advance_leased(
    c: &impl GenericClient,
    s: &UploadSession,
    expected: u64,
    holder: Option<&str>,
) -> PgResult<bool> {
    let stmt = c
        .prepare_cached(
            "UPDATE uploads SET received = $2, hasher_state = $3, updated_ms = $4
             WHERE id = $1 AND received = $5 AND lease_holder IS NOT DISTINCT FROM $6",
        )
        .await?;
    let changed = c
        .execute(
            &stmt,
            &[
                &s.id,
                &(s.offset as i64),
                &s.hasher_state,
                &millis(s.updated),
                &(expected as i64),
                &holder,
            ],
        )
        .await?;
    Ok(changed > 0)
}
