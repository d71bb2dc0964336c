//! The metadata database's tables, and the migrations that bring an older database up
//! to them. `PRAGMA user_version` records which migrations a database has had; each runs
//! in one transaction with the version bump, so a crash leaves a database at one
//! version or the next, never between.

use rusqlite::{params, Connection};

/// The tables of the first version (a database that predates versions has these).
pub const BASE: &str = "
CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    repo TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_by_digest ON links (digest);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    artifact_type TEXT, subject TEXT, annotations TEXT,
    PRIMARY KEY (repo, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (repo, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags (repo, digest);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, offset INTEGER NOT NULL, algorithm TEXT NOT NULL,
    hasher_state BLOB NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;
";

/// Version 1, garbage collection: when links and manifests were made, what each
/// manifest requires (`manifest_refs`; `refs_recorded` is 0 for manifests stored before,
/// until the collector reads them), the fence of stored blobs (`blobs`), and a counter
/// every collection bumps (`gc_epoch`) so other processes know to drop their caches.
/// Existing links, manifests and blobs count as made at the migration, so the grace
/// period runs from the upgrade.
const V1: &str = "
ALTER TABLE links ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN refs_recorded INTEGER NOT NULL DEFAULT 0;
CREATE TABLE manifest_refs (
    repo TEXT NOT NULL, manifest TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (repo, manifest, digest)) WITHOUT ROWID;
CREATE INDEX manifest_refs_by_digest ON manifest_refs (repo, digest);
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY, size INTEGER NOT NULL, touched_ms INTEGER NOT NULL,
    deleting INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE gc_epoch (id INTEGER PRIMARY KEY CHECK (id = 0), epoch INTEGER NOT NULL);
INSERT INTO gc_epoch (id, epoch) VALUES (0, 0);
";

/// Version 2, pull times: when each link (a manifest's or a blob's) was last pulled,
/// written in batches (see `meta::pulls`); NULL until its first pull.
const V2: &str = "ALTER TABLE links ADD COLUMN pulled_ms INTEGER;";

/// Version 3, the web UI's: when each tag was last pushed, indexed so that a page of
/// tags newest first is one index range (`tags.pushed_ms`; existing tags take their
/// manifest's push time); the record of garbage collections (`gc_runs`), whichever
/// process ran them; and UI sessions signed out before their cookie expires
/// (`ui_revoked_sessions`).
const V3: &str = "
ALTER TABLE tags ADD COLUMN pushed_ms INTEGER NOT NULL DEFAULT 0;
UPDATE tags SET pushed_ms = COALESCE(
    (SELECT m.created_ms FROM manifests m WHERE m.repo = tags.repo AND m.digest = tags.digest), 0);
CREATE INDEX tags_by_push ON tags (repo, pushed_ms DESC, tag);
CREATE TABLE gc_runs (
    id TEXT PRIMARY KEY, started_ms INTEGER NOT NULL, ended_ms INTEGER,
    manifests INTEGER, blobs INTEGER, bytes_freed INTEGER, error TEXT) WITHOUT ROWID;
CREATE INDEX gc_runs_by_start ON gc_runs (started_ms);
CREATE TABLE ui_revoked_sessions (id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
";

/// The version this build writes.
pub const VERSION: i64 = 3;

/// Brings the database up to [`VERSION`]; `now_ms` stamps what existed before. Runs
/// inside the writer's transaction.
pub fn migrate(conn: &Connection, now_ms: i64) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        conn.execute_batch(V1)?;
        conn.execute("UPDATE links SET created_ms = ?1", params![now_ms])?;
        conn.execute("UPDATE manifests SET created_ms = ?1", params![now_ms])?;
        conn.execute(
            "INSERT OR IGNORE INTO blobs (digest, size, touched_ms, deleting)
             SELECT digest, max(size), ?1, 0 FROM links GROUP BY digest",
            params![now_ms],
        )?;
    }
    if version < 2 {
        conn.execute_batch(V2)?;
    }
    if version < 3 {
        conn.execute_batch(V3)?;
    }
    if version < VERSION {
        conn.execute_batch(&format!("PRAGMA user_version = {VERSION}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of version 1 (as wharf wrote it before the web UI's tables), with one
    /// tagged manifest pushed at 500 ms.
    fn version_one() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(BASE).unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        conn.execute_batch(
            "INSERT INTO manifests (repo, digest, media_type, size, created_ms, refs_recorded)
             VALUES ('app', 'sha256:aa', 'm', 1, 500, 1);
             INSERT INTO tags (repo, tag, digest) VALUES ('app', 'v1', 'sha256:aa');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn version_three_gives_existing_tags_their_manifests_push_time() {
        let conn = version_one();
        migrate(&conn, 9_000).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 3);
        let pushed: i64 = conn
            .query_row("SELECT pushed_ms FROM tags WHERE tag = 'v1'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(pushed, 500);
        for table in ["gc_runs", "ui_revoked_sessions"] {
            let rows: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 0, "{table}");
        }
        migrate(&conn, 10_000).expect("a second start finds nothing to do");
    }

    #[test]
    fn a_page_of_tags_by_push_seeks_the_index() {
        let conn = version_one();
        migrate(&conn, 9_000).unwrap();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT t.tag FROM tags t WHERE t.repo = ?1 AND t.pushed_ms <= ?2
                 AND (t.pushed_ms < ?2 OR t.tag > ?3) ORDER BY t.pushed_ms DESC, t.tag LIMIT 50",
            )
            .unwrap()
            .query_map(params!["app", 1000, "v"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains("tags_by_push") && plan.contains("pushed_ms<"), "{plan}");
        assert!(
            !plan.contains("TEMP B-TREE"),
            "sorted rather than read in order: {plan}"
        );
    }
}
