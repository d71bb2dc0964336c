//! The SQL of the lifecycle policies' calls (immutable tags, retention), run inside
//! the writer's transaction.

use crate::meta::TagFilter;
use rusqlite::{params, Connection, OptionalExtension};
use wharf_oci::Digest;

/// The digest `tag` of `repo` points at, if it points somewhere other than `digest`
/// (pushing the manifest would move it).
pub fn tag_moves(tx: &Connection, repo: &str, tag: &str, digest: &str) -> rusqlite::Result<Option<Digest>> {
    let current: Option<String> = tx
        .prepare_cached("SELECT digest FROM tags WHERE repo = ?1 AND tag = ?2")?
        .query_row(params![repo, tag], |r| r.get(0))
        .optional()?;
    Ok(current.filter(|d| d != digest).and_then(|d| d.parse().ok()))
}

/// A tag pointing at manifest `digest` of `repo` that `fixed` guards.
pub fn guarded_tag(tx: &Connection, repo: &str, digest: &str, fixed: &TagFilter) -> rusqlite::Result<Option<String>> {
    let mut stmt = tx.prepare_cached("SELECT tag FROM tags WHERE repo = ?1 AND digest = ?2")?;
    let tags = stmt.query_map(params![repo, digest], |r| r.get::<_, String>(0))?;
    for tag in tags {
        let tag = tag?;
        if fixed(&tag) {
            return Ok(Some(tag));
        }
    }
    Ok(None)
}

/// Removes a manifest's record, tags, link and references; `false` if it was absent.
pub fn delete_manifest_rows(tx: &Connection, repo: &str, digest: &str) -> rusqlite::Result<bool> {
    let removed = tx
        .prepare_cached("DELETE FROM manifests WHERE repo = ?1 AND digest = ?2")?
        .execute(params![repo, digest])?;
    if removed == 0 {
        return Ok(false);
    }
    tx.prepare_cached("DELETE FROM tags WHERE repo = ?1 AND digest = ?2")?
        .execute(params![repo, digest])?;
    tx.prepare_cached("DELETE FROM links WHERE repo = ?1 AND digest = ?2")?
        .execute(params![repo, digest])?;
    tx.prepare_cached("DELETE FROM manifest_refs WHERE repo = ?1 AND manifest = ?2")?
        .execute(params![repo, digest])?;
    Ok(true)
}
