//! The browsing calls (see [`crate::meta::TagDetail`]) as one query each.

use super::{manifest_from_row, MANIFEST_COLUMNS};
use crate::meta::{ManifestDetail, RepositorySummary, TagDetail};
use rusqlite::{params, Connection};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `created_ms` column as a time; 0 (recorded before times were) as unknown.
fn time_of(ms: i64) -> Option<SystemTime> {
    (ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// The manifest columns prefixed with `m.`, then `created_ms` (index 6).
fn columns() -> String {
    let prefixed: Vec<String> = MANIFEST_COLUMNS.split(", ").map(|c| format!("m.{c}")).collect();
    format!("{}, m.created_ms", prefixed.join(", "))
}

pub fn tag_details(c: &Connection, repo: &str) -> rusqlite::Result<Vec<TagDetail>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {}, t.tag FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest
         WHERE t.repo = ?1 ORDER BY t.tag",
        columns()
    ))?;
    let rows = stmt.query_map(params![repo], |row| {
        Ok(TagDetail {
            manifest: manifest_from_row(row)?,
            pushed: time_of(row.get(6)?),
            tag: row.get(7)?,
        })
    })?;
    rows.collect()
}

pub fn untagged_manifests(c: &Connection, repo: &str) -> rusqlite::Result<Vec<ManifestDetail>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {} FROM manifests m WHERE m.repo = ?1
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest)
         ORDER BY m.created_ms DESC",
        columns()
    ))?;
    let rows = stmt.query_map(params![repo], |row| {
        Ok(ManifestDetail {
            manifest: manifest_from_row(row)?,
            pushed: time_of(row.get(6)?),
        })
    })?;
    rows.collect()
}

pub fn repository_summary(c: &Connection, repo: &str) -> rusqlite::Result<RepositorySummary> {
    let tags: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM tags WHERE repo = ?1")?
        .query_row(params![repo], |r| r.get(0))?;
    let last: Option<i64> = c
        .prepare_cached("SELECT MAX(created_ms) FROM manifests WHERE repo = ?1")?
        .query_row(params![repo], |r| r.get(0))?;
    Ok(RepositorySummary {
        tags: tags.max(0) as u64,
        last_push: last.and_then(time_of),
    })
}
