//! Upload sessions. A session's offset moves by compare-and-set in the database
//! ([`advance`]), so two replicas appending to one session at once cannot both record
//! their chunk: the second finds the offset moved and is told so.

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
