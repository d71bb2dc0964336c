//! What the web UI keeps in the database beside the registry's content: the record of
//! garbage collections and the UI sessions signed out (see [`crate::meta::CollectionRun`]
//! and [`crate::meta::MetaStore::revoke_session`]).

use crate::meta::{CollectionOutcome, CollectionRun, KEPT_COLLECTIONS};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

pub fn collection_started(tx: &Connection, id: &str, started_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO gc_runs (id, started_ms) VALUES (?1, ?2)")?
        .execute(params![id, started_ms])?;
    tx.prepare_cached(
        "DELETE FROM gc_runs WHERE id NOT IN
         (SELECT id FROM gc_runs ORDER BY started_ms DESC, id DESC LIMIT ?1)",
    )?
    .execute(params![KEPT_COLLECTIONS as i64])?;
    Ok(())
}

pub fn collection_ended(tx: &Connection, id: &str, ended_ms: i64, outcome: &CollectionOutcome) -> rusqlite::Result<()> {
    let (manifests, blobs, bytes_freed, error) = outcome.columns();
    tx.prepare_cached(
        "UPDATE gc_runs SET ended_ms = ?2, manifests = ?3, blobs = ?4, bytes_freed = ?5, error = ?6 WHERE id = ?1",
    )?
    .execute(params![id, ended_ms, manifests, blobs, bytes_freed, error])?;
    Ok(())
}

pub fn last_collection(c: &Connection) -> rusqlite::Result<Option<CollectionRun>> {
    c.prepare_cached(
        "SELECT id, started_ms, ended_ms, manifests, blobs, bytes_freed, error FROM gc_runs
         ORDER BY started_ms DESC, id DESC LIMIT 1",
    )?
    .query_row([], |r| {
        let ended: Option<i64> = r.get(2)?;
        let outcome = CollectionOutcome::from_columns(
            r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            r.get::<_, Option<i64>>(4)?.unwrap_or(0),
            r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            r.get(6)?,
        );
        Ok(CollectionRun {
            id: r.get(0)?,
            started: time(r.get(1)?),
            ended: ended.map(|ms| (time(ms), outcome)),
        })
    })
    .optional()
}

pub fn revoke_session(tx: &Connection, id: &str, expires_ms: i64, now_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM ui_revoked_sessions WHERE expires_ms <= ?1")?
        .execute(params![now_ms])?;
    tx.prepare_cached("INSERT OR REPLACE INTO ui_revoked_sessions (id, expires_ms) VALUES (?1, ?2)")?
        .execute(params![id, expires_ms])?;
    Ok(())
}

pub fn session_revoked(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.prepare_cached("SELECT 1 FROM ui_revoked_sessions WHERE id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some())
}
