//! The browsing calls (see [`crate::meta::TagDetail`]) as one query each.

use super::{manifest_from_row, MANIFEST_COLUMNS};
use crate::meta::{ManifestDetail, RepositorySummary, TagCursor, TagDetail, TagOrder};
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

/// The manifest columns, then the tag's push time (index 6) and the tag (7).
fn tag_columns() -> String {
    let prefixed: Vec<String> = MANIFEST_COLUMNS.split(", ").map(|c| format!("m.{c}")).collect();
    format!("{}, t.pushed_ms, t.tag", prefixed.join(", "))
}

fn tag_detail(row: &rusqlite::Row<'_>) -> rusqlite::Result<TagDetail> {
    Ok(TagDetail {
        manifest: manifest_from_row(row)?,
        pushed: time_of(row.get(6)?),
        tag: row.get(7)?,
    })
}

pub fn tag_details(c: &Connection, repo: &str) -> rusqlite::Result<Vec<TagDetail>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {} FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest
         WHERE t.repo = ?1 ORDER BY t.tag",
        tag_columns()
    ))?;
    let rows = stmt.query_map(params![repo], tag_detail)?;
    rows.collect()
}

/// One page of tags after the cursor: a seek into the primary key (by name) or into
/// `tags_by_push` (newest first), then `limit` rows of it; never the rows before.
pub fn tag_page(
    c: &Connection,
    repo: &str,
    order: TagOrder,
    after: Option<&TagCursor>,
    limit: usize,
) -> rusqlite::Result<Vec<TagDetail>> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let join = "FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest";
    let rows = match order {
        TagOrder::Name => {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {} {join} WHERE t.repo = ?1 AND t.tag > ?2 ORDER BY t.tag LIMIT ?3",
                tag_columns()
            ))?;
            let after = after.map(|a| a.tag.as_str()).unwrap_or("");
            let rows = stmt.query_map(params![repo, after, limit], tag_detail)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        }
        TagOrder::Pushed => {
            // `pushed_ms <= ?2` bounds the index range; the rest drops the cursor's own
            // millisecond up to its tag.
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {} {join} WHERE t.repo = ?1 AND t.pushed_ms <= ?2
                 AND (t.pushed_ms < ?2 OR t.tag > ?3)
                 ORDER BY t.pushed_ms DESC, t.tag LIMIT ?4",
                tag_columns()
            ))?;
            let (ms, tag) = after.map(|a| (a.pushed_ms, a.tag.as_str())).unwrap_or((i64::MAX, ""));
            let rows = stmt.query_map(params![repo, ms, tag, limit], tag_detail)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(rows)
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
