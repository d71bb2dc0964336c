//! The garbage collector's statements: the snapshot it decides from, and the removals,
//! each re-checking its condition in the transaction that removes (see [`crate::meta`]).

use super::{millis, parsed};
use crate::meta::{BlobClaim, GcBlob, GcLink, GcManifest, GcSnapshot, Refusal};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wharf_oci::{Digest, RepositoryName};

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// Everything the collector reads, in one read transaction.
pub fn snapshot(c: &Connection) -> rusqlite::Result<GcSnapshot> {
    c.execute_batch("BEGIN")?;
    let read = read_snapshot(c);
    let _ = c.execute_batch("COMMIT");
    read
}

fn read_snapshot(c: &Connection) -> rusqlite::Result<GcSnapshot> {
    let mut snapshot = GcSnapshot::default();
    let mut stmt = c.prepare(
        "SELECT m.repo, m.digest, m.size, m.created_ms, m.subject, m.refs_recorded,
                EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest), m.media_type
         FROM manifests m",
    )?;
    let rows = stmt.query_map([], |r| {
        let subject: Option<String> = r.get(4)?;
        Ok(GcManifest {
            repository: parsed(r, 0)?,
            digest: parsed(r, 1)?,
            size: r.get::<_, i64>(2)? as u64,
            created: time(r.get(3)?),
            subject: subject.and_then(|s| s.parse().ok()),
            references_recorded: r.get::<_, i64>(5)? != 0,
            tagged: r.get(6)?,
            media_type: r.get(7)?,
        })
    })?;
    snapshot.manifests = rows.collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare("SELECT repo, manifest, digest FROM manifest_refs")?;
    let rows = stmt.query_map([], |r| Ok((parsed(r, 0)?, parsed(r, 1)?, parsed(r, 2)?)))?;
    snapshot.references = rows.collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare("SELECT repo, digest, size, created_ms, pulled_ms FROM links")?;
    let rows = stmt.query_map([], |r| {
        Ok(GcLink {
            repository: parsed(r, 0)?,
            digest: parsed(r, 1)?,
            size: r.get::<_, i64>(2)? as u64,
            created: time(r.get(3)?),
            pulled: r.get::<_, Option<i64>>(4)?.map(time),
        })
    })?;
    snapshot.links = rows.collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare("SELECT digest, size, touched_ms, deleting FROM blobs")?;
    let rows = stmt.query_map([], |r| {
        Ok(GcBlob {
            digest: parsed(r, 0)?,
            size: r.get::<_, i64>(1)? as u64,
            touched: time(r.get(2)?),
            deleting: r.get::<_, i64>(3)? != 0,
        })
    })?;
    snapshot.blobs = rows.collect::<rusqlite::Result<_>>()?;
    Ok(snapshot)
}

/// Makes or touches the blob's row, unless it is being deleted.
pub fn claim(tx: &Connection, digest: &str, size: u64, now_ms: i64) -> rusqlite::Result<BlobClaim> {
    let deleting: Option<i64> = tx
        .prepare_cached("SELECT deleting FROM blobs WHERE digest = ?1")?
        .query_row([digest], |r| r.get(0))
        .optional()?;
    Ok(match deleting {
        Some(0) => {
            tx.prepare_cached("UPDATE blobs SET touched_ms = ?2 WHERE digest = ?1")?
                .execute(params![digest, now_ms])?;
            BlobClaim::Held
        }
        Some(_) => BlobClaim::Deleting,
        None => {
            tx.prepare_cached("INSERT INTO blobs (digest, size, touched_ms, deleting) VALUES (?1, ?2, ?3, 0)")?
                .execute(params![digest, size as i64, now_ms])?;
            BlobClaim::New
        }
    })
}

/// `Err(BlobGone)` unless the blob's row exists and is not being deleted.
pub fn linkable(tx: &Connection, digest: &str) -> rusqlite::Result<Result<(), Refusal>> {
    let deleting: Option<i64> = tx
        .prepare_cached("SELECT deleting FROM blobs WHERE digest = ?1")?
        .query_row([digest], |r| r.get(0))
        .optional()?;
    Ok(match deleting {
        Some(0) => Ok(()),
        _ => Err(Refusal::BlobGone(digest.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?)),
    })
}

/// Those of `references` not linked in `repo`.
pub fn missing_links(tx: &Connection, repo: &str, references: &[String]) -> rusqlite::Result<Vec<Digest>> {
    let mut stmt = tx.prepare_cached("SELECT 1 FROM links WHERE repo = ?1 AND digest = ?2")?;
    let mut missing = Vec::new();
    for d in references {
        if stmt.query_row(params![repo, d], |_| Ok(())).optional()?.is_none() {
            missing.push(
                d.parse().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
                })?,
            );
        }
    }
    Ok(missing)
}

/// Replaces the recorded references of a manifest.
pub fn record_references(tx: &Connection, repo: &str, manifest: &str, references: &[String]) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM manifest_refs WHERE repo = ?1 AND manifest = ?2")?
        .execute(params![repo, manifest])?;
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO manifest_refs (repo, manifest, digest) VALUES (?1, ?2, ?3)")?;
    for d in references {
        insert.execute(params![repo, manifest, d])?;
    }
    tx.prepare_cached("UPDATE manifests SET refs_recorded = 1 WHERE repo = ?1 AND digest = ?2")?
        .execute(params![repo, manifest])?;
    Ok(())
}

fn bump_epoch(tx: &Connection) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE gc_epoch SET epoch = epoch + 1 WHERE id = 0")?
        .execute([])?;
    Ok(())
}

/// The collection counter (see [`super::schema`]).
pub fn epoch(c: &Connection) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT epoch FROM gc_epoch WHERE id = 0")?
        .query_row([], |r| r.get(0))
}

pub type Items = Vec<(RepositoryName, Digest)>;

pub fn remove_unused_manifests(tx: &Connection, items: Items, cutoff: SystemTime) -> rusqlite::Result<Items> {
    let cutoff = millis(cutoff);
    let mut check = tx.prepare_cached(
        "SELECT 1 FROM manifests m WHERE m.repo = ?1 AND m.digest = ?2 AND m.created_ms < ?3
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = ?1 AND t.digest = ?2)
         AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = ?1 AND r.digest = ?2)
         AND (m.subject IS NULL
              OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repo = ?1 AND s.digest = m.subject))",
    )?;
    let mut removed = Vec::new();
    for (repo, digest) in items {
        let (r, d) = (repo.as_str(), digest.to_string());
        if check.query_row(params![r, d, cutoff], |_| Ok(())).optional()?.is_none() {
            continue;
        }
        for sql in [
            "DELETE FROM manifests WHERE repo = ?1 AND digest = ?2",
            "DELETE FROM manifest_refs WHERE repo = ?1 AND manifest = ?2",
            "DELETE FROM links WHERE repo = ?1 AND digest = ?2",
        ] {
            tx.prepare_cached(sql)?.execute(params![r, d])?;
        }
        removed.push((repo, digest));
    }
    if !removed.is_empty() {
        bump_epoch(tx)?;
    }
    Ok(removed)
}

pub fn remove_unused_links(tx: &Connection, items: Items, cutoff: SystemTime) -> rusqlite::Result<Items> {
    let cutoff = millis(cutoff);
    let mut delete = tx.prepare_cached(
        "DELETE FROM links WHERE repo = ?1 AND digest = ?2 AND created_ms < ?3
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = ?1 AND m.digest = ?2)
         AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = ?1 AND r.digest = ?2)",
    )?;
    let mut removed = Vec::new();
    for (repo, digest) in items {
        if delete.execute(params![repo.as_str(), digest.to_string(), cutoff])? > 0 {
            removed.push((repo, digest));
        }
    }
    if !removed.is_empty() {
        bump_epoch(tx)?;
    }
    Ok(removed)
}

pub fn mark_deleting(tx: &Connection, digests: Vec<Digest>, cutoff: SystemTime) -> rusqlite::Result<Vec<Digest>> {
    let cutoff = millis(cutoff);
    let mut mark = tx.prepare_cached(
        "UPDATE blobs SET deleting = 1 WHERE digest = ?1
         AND (deleting = 1 OR (touched_ms < ?2 AND NOT EXISTS (SELECT 1 FROM links l WHERE l.digest = ?1)))",
    )?;
    let mut marked = Vec::new();
    for digest in digests {
        if mark.execute(params![digest.to_string(), cutoff])? > 0 {
            marked.push(digest);
        }
    }
    if !marked.is_empty() {
        bump_epoch(tx)?;
    }
    Ok(marked)
}

pub fn fence_stray(tx: &Connection, blobs: Vec<(Digest, u64)>, now_ms: i64) -> rusqlite::Result<Vec<Digest>> {
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO blobs (digest, size, touched_ms, deleting) VALUES (?1, ?2, ?3, 1)")?;
    let mut fenced = Vec::new();
    for (digest, size) in blobs {
        if insert.execute(params![digest.to_string(), size as i64, now_ms])? > 0 {
            fenced.push(digest);
        }
    }
    Ok(fenced)
}

pub fn forget_deleted(tx: &Connection, digests: Vec<Digest>) -> rusqlite::Result<()> {
    let mut delete = tx.prepare_cached("DELETE FROM blobs WHERE digest = ?1 AND deleting = 1")?;
    for digest in digests {
        delete.execute([digest.to_string()])?;
    }
    Ok(())
}

/// Records pull times (see `meta::pulls`): each existing link keeps the later time.
pub fn record_pulls(tx: &Connection, pulls: Vec<(String, String, i64)>) -> rusqlite::Result<()> {
    let mut update = tx.prepare_cached(
        "UPDATE links SET pulled_ms = max(coalesce(pulled_ms, 0), ?3) WHERE repo = ?1 AND digest = ?2",
    )?;
    for (repo, digest, at) in pulls {
        update.execute(params![repo, digest, at])?;
    }
    Ok(())
}
