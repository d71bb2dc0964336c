//! The tables, and the versioned migrations that create and upgrade them.
//!
//! `schema_version` holds the highest migration applied. Migrations run at start, each
//! in the one transaction that also records it, under a transaction-scoped advisory
//! lock: when several replicas start at once, one migrates and the others wait, then
//! find nothing left to do.

use tokio_postgres::Client;

/// The advisory lock key every wharf replica takes to migrate ("wharf" in ASCII).
const MIGRATION_LOCK: i64 = 0x0077_6861_7266;

/// Text keys compare byte by byte ("C"), so that listings are in the order the
/// distribution spec asks for and their pages are index range scans.
const V1: &str = r#"
CREATE TABLE repositories (name TEXT COLLATE "C" PRIMARY KEY);
CREATE TABLE blobs (
    digest TEXT COLLATE "C" PRIMARY KEY, size BIGINT NOT NULL, touched_ms BIGINT NOT NULL,
    deleting BOOLEAN NOT NULL DEFAULT false);
CREATE TABLE links (
    repo TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL, size BIGINT NOT NULL,
    created_ms BIGINT NOT NULL, PRIMARY KEY (repo, digest));
CREATE INDEX links_by_digest ON links (digest);
CREATE TABLE manifests (
    repo TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL, media_type TEXT NOT NULL,
    size BIGINT NOT NULL, artifact_type TEXT, subject TEXT COLLATE "C", annotations TEXT,
    created_ms BIGINT NOT NULL, refs_recorded BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (repo, digest));
CREATE INDEX manifests_by_subject ON manifests (repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_refs (
    repo TEXT COLLATE "C" NOT NULL, manifest TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repo, manifest, digest));
CREATE INDEX manifest_refs_by_digest ON manifest_refs (repo, digest);
CREATE TABLE tags (
    repo TEXT COLLATE "C" NOT NULL, tag TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repo, tag));
CREATE INDEX tags_by_digest ON tags (repo, digest);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, received BIGINT NOT NULL, algorithm TEXT NOT NULL,
    hasher_state BYTEA NOT NULL, updated_ms BIGINT NOT NULL);
CREATE INDEX uploads_by_updated ON uploads (updated_ms);
"#;

/// Upload leases (see `meta::lease`): who may append to a session now, until when (ms
/// by the database's clock, so replicas' clocks need not agree), and whether a request
/// elsewhere waits for it.
const V2: &str = r#"
ALTER TABLE uploads ADD COLUMN lease_holder TEXT,
    ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN lease_wanted BOOLEAN NOT NULL DEFAULT false;
"#;

/// Pull times: when each link (a manifest's or a blob's) was last pulled, written in
/// batches (see `meta::pulls`); NULL until its first pull.
const V3: &str = "ALTER TABLE links ADD COLUMN pulled_ms BIGINT;";

/// The web UI's: when each tag was last pushed, indexed so that a page of tags newest
/// first is one index range (existing tags take their manifest's push time); the record
/// of garbage collections, whichever replica or `wharf gc` ran them; and UI sessions
/// signed out before their cookie expires.
const V4: &str = r#"
ALTER TABLE tags ADD COLUMN pushed_ms BIGINT NOT NULL DEFAULT 0;
UPDATE tags t SET pushed_ms = m.created_ms FROM manifests m WHERE m.repo = t.repo AND m.digest = t.digest;
CREATE INDEX tags_by_push ON tags (repo, pushed_ms DESC, tag);
CREATE TABLE gc_runs (
    id TEXT PRIMARY KEY, started_ms BIGINT NOT NULL, ended_ms BIGINT,
    manifests BIGINT, blobs BIGINT, bytes_freed BIGINT, error TEXT);
CREATE INDEX gc_runs_by_start ON gc_runs (started_ms);
CREATE TABLE ui_revoked_sessions (id TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL);
"#;

/// The failed-login limit the replicas share (see `login_limits`): per client address,
/// when its window started (ms by the database's clock), the failures counted in it and
/// the places taken in it by checks still in flight.
const V5: &str = r#"
CREATE TABLE login_limits (
    client TEXT PRIMARY KEY, window_start_ms BIGINT NOT NULL,
    failures INTEGER NOT NULL, in_flight INTEGER NOT NULL);
CREATE INDEX login_limits_by_window ON login_limits (window_start_ms);
"#;

/// Each migration in order; the database's version is how many it has had.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// Brings the database up to this build's version. A database newer than this build
/// (a replica not yet upgraded) is left alone.
pub async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await?;
    let version: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await?
        .get(0);
    let version = version.unwrap_or(0).max(0) as usize;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(migration).await?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(i as i32 + 1)])
            .await?;
    }
    tx.commit().await
}
