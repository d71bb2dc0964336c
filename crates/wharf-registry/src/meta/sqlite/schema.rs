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

/// The version this build writes.
pub const VERSION: i64 = 2;

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
    if version < VERSION {
        conn.execute_batch(&format!("PRAGMA user_version = {VERSION}"))?;
    }
    Ok(())
}
