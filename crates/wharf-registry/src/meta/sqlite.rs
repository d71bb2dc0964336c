//! Metadata in an embedded SQLite database (WAL mode).
//!
//! One connection writes (SQLite allows a single writer), on a thread of its own; a few
//! more read concurrently on tokio's blocking pool. Commits do not fsync by themselves
//! (`synchronous=NORMAL`: only WAL checkpoints do); in durable mode a syncer thread
//! fdatasyncs the WAL after each group of commits before their callers hear back.
//!
//! Writes are committed in groups: the writer thread takes every write waiting for it,
//! runs each in a savepoint of one transaction and commits once, and one WAL sync
//! covers every group committed while the previous sync ran, so concurrent pushes share
//! one fsync instead of queueing for one each. A write's caller hears back only after
//! the commit that holds it is durable (see [`writer`]).

use super::{
    BlobClaim, Change as Applied, CollectionOutcome, CollectionRun, GcSnapshot, Leased, Limits, ManifestDetail,
    ManifestRecord, MetaError, MetaResult, MetaStore, NewEvent, Page, Pull, Refusal, RepositorySummary, TagCursor,
    TagDetail, TagFilter, TagOrder, UploadSession,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wharf_oci::{Digest, RepositoryName, Tag};

mod browse;
mod cache;
mod gc;
mod lifecycle;
mod outbox;
mod quota;
mod schema;
mod sessions;
mod ui_state;

use crate::sqlite::{Readers, Survives, Writer};
use cache::{Change, Kind, ReadCache};
use sessions::SessionCache;

/// Read connections, each opened when a read first needs it: an idle registry, whose
/// lookups are answered from the cache, keeps none of their memory.
const READERS: usize = 4;

/// How often a store asks whether another process (a `wharf gc` beside a server)
/// collected garbage, to drop its read cache if so.
const EPOCH_POLL: Duration = Duration::from_millis(250);

/// A [`MetaStore`] in one SQLite file.
pub struct SqliteMetaStore {
    inner: Arc<Inner>,
}

struct Inner {
    cache: ReadCache,
    sessions: SessionCache,
    writer: Writer,
    readers: Readers,
    /// The last collection counter seen (see [`SqliteMetaStore::watch_collections`]).
    epoch: AtomicI64,
}

fn db_err(e: rusqlite::Error) -> MetaError {
    MetaError::new(e)
}

impl SqliteMetaStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: impl Into<PathBuf>, durable: bool) -> MetaResult<SqliteMetaStore> {
        let path = path.into();
        let inner = tokio::task::spawn_blocking(move || -> rusqlite::Result<Inner> {
            Ok(Inner {
                cache: ReadCache::default(),
                sessions: SessionCache::default(),
                writer: crate::sqlite::start_writer(
                    &path,
                    &format!("{}{}", schema::BASE, outbox::TABLES),
                    "metadata",
                    durable,
                )?,
                readers: Readers::new(path, READERS),
                epoch: AtomicI64::new(0),
            })
        })
        .await
        .map_err(MetaError::new)?
        .map_err(db_err)?;
        let store = SqliteMetaStore { inner: Arc::new(inner) };
        let now = millis(SystemTime::now());
        store.write(move |tx| schema::migrate(tx, now)).await?;
        let epoch = store.read(gc::epoch).await?;
        store.inner.epoch.store(epoch, Ordering::Relaxed);
        tokio::spawn(SqliteMetaStore::watch_collections(Arc::downgrade(&store.inner)));
        Ok(store)
    }

    /// Drops the read cache whenever the collection counter moves: a `wharf gc` run by
    /// another process on the same database removes links and manifests this process
    /// has cached. Checked every [`EPOCH_POLL`], so a lookup may answer from a cache up
    /// to that much older than another process's collection; what a push decides is
    /// checked in the database, never in the cache. Ends with the store.
    async fn watch_collections(inner: Weak<Inner>) {
        loop {
            tokio::time::sleep(EPOCH_POLL).await;
            let Some(strong) = inner.upgrade() else { return };
            let reading = strong.clone();
            let epoch = tokio::task::spawn_blocking(move || reading.readers.read(gc::epoch)).await;
            if let Ok(Ok(epoch)) = epoch {
                if strong.epoch.swap(epoch, Ordering::Relaxed) != epoch {
                    strong.cache.clear();
                }
            }
        }
    }

    /// Runs a collector's write and drops the read cache after it (the collector's
    /// removals span many keys; they are rare enough to start the cache afresh).
    async fn gc_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> MetaResult<T> {
        let written = self.write(f).await;
        self.inner.cache.clear();
        written
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> MetaResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.readers.read(f))
            .await
            .map_err(MetaError::new)?
            .map_err(db_err)
    }

    /// A manifest record by `kind` (digest or tag) from the read cache, or from `query`
    /// (`{MANIFEST_COLUMNS}` stands for the columns; `?1` is the repository, `?2` the key).
    async fn cached_record(
        &self,
        kind: Kind,
        repo: &RepositoryName,
        key: String,
        query: &'static str,
    ) -> MetaResult<Option<ManifestRecord>> {
        let repo = repo.to_string();
        let cache = &self.inner.cache;
        if let Some(record) = cache.record(kind, &repo, &key) {
            return Ok(Some(record));
        }
        let generation = cache.generation();
        let (r, k) = (repo.clone(), key.clone());
        let found = self
            .read(move |c| {
                c.prepare_cached(&query.replace("{MANIFEST_COLUMNS}", MANIFEST_COLUMNS))?
                    .query_row(params![r, k], manifest_from_row)
                    .optional()
            })
            .await?;
        if let Some(record) = &found {
            cache.keep_record(generation, kind, repo, key, record.clone());
        }
        Ok(found)
    }

    /// Runs `f` in the next group commit; its changes are all or nothing, and survive a
    /// power cut in durable mode.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> MetaResult<T> {
        self.inner
            .writer
            .write(Survives::PowerCut, f)
            .await
            .map_err(MetaError::new)
    }

    /// Like `write`, for upload-session bookkeeping, which only has to survive a crash of
    /// the process (see [`crate::sqlite::writer`]).
    async fn write_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> MetaResult<T> {
        self.inner
            .writer
            .write(Survives::Crash, f)
            .await
            .map_err(MetaError::new)
    }
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Parses a column that wharf itself wrote; a value that no longer parses is reported
/// as a conversion failure rather than trusted.
fn parsed<T: std::str::FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

const MANIFEST_COLUMNS: &str = "digest, media_type, size, artifact_type, subject, annotations";

fn manifest_from_row(row: &Row<'_>) -> rusqlite::Result<ManifestRecord> {
    let subject: Option<String> = row.get(4)?;
    let annotations: Option<String> = row.get(5)?;
    Ok(ManifestRecord {
        digest: parsed(row, 0)?,
        media_type: row.get(1)?,
        size: row.get::<_, i64>(2)? as u64,
        artifact_type: row.get(3)?,
        subject: subject.and_then(|s| s.parse().ok()),
        annotations: annotations.and_then(|a| serde_json::from_str::<BTreeMap<String, String>>(&a).ok()),
    })
}

fn ensure_repository(tx: &Connection, repo: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO repositories (name) VALUES (?1)")?
        .execute([repo])?;
    Ok(())
}

/// Links a blob (made again, a link is as new), unless its row says its bytes are not
/// stored or are being deleted.
fn insert_link(tx: &Connection, repo: &str, digest: &str, size: u64) -> rusqlite::Result<Result<(), Refusal>> {
    if let Err(refused) = gc::linkable(tx, digest)? {
        return Ok(Err(refused));
    }
    tx.prepare_cached("INSERT OR REPLACE INTO links (repo, digest, size, created_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![repo, digest, size as i64, millis(SystemTime::now())])?;
    Ok(Ok(()))
}

/// The rows of a blob link (see [`MetaStore::link_blob_within`]), and with `session` the
/// removal of the upload that made it ([`MetaStore::complete_upload_within`]), in the
/// writer's transaction. Refused over `limits` before anything changes (the session
/// stays).
fn link_rows(
    tx: &Connection,
    repo: &str,
    digest: &str,
    size: u64,
    session: Option<&str>,
    limits: Limits,
) -> rusqlite::Result<Result<(), Refusal>> {
    if let Some(over) = quota::admit(tx, repo, digest, size, limits)? {
        return Ok(Err(over));
    }
    let linked = insert_link(tx, repo, digest, size)?;
    if linked.is_ok() {
        ensure_repository(tx, repo)?;
    }
    if let Some(id) = session {
        delete_session(tx, id)?;
    }
    Ok(linked)
}

/// Removes the link of `digest` into `repo`; whether there was one.
fn delete_link_row(tx: &Connection, repo: &str, digest: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM links WHERE repo = ?1 AND digest = ?2")?
        .execute(params![repo, digest])?
        > 0)
}

/// Removes `tag` of `repo`; whether it was there.
fn delete_tag_row(tx: &Connection, repo: &str, tag: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM tags WHERE repo = ?1 AND tag = ?2")?
        .execute(params![repo, tag])?
        > 0)
}

/// The rows of a manifest push (see [`MetaStore::put_manifest_fixed_tags`]), in the
/// writer's transaction.
#[allow(clippy::too_many_arguments)]
fn put_manifest_rows(
    tx: &Connection,
    repo: &str,
    m: &ManifestRecord,
    annotations: Option<String>,
    tags: &[String],
    references: &[String],
    require_linked: bool,
    fixed: &[Tag],
    limits: Limits,
) -> rusqlite::Result<Result<(), Refusal>> {
    if require_linked {
        let missing = gc::missing_links(tx, repo, references)?;
        if !missing.is_empty() {
            return Ok(Err(Refusal::ReferencesMissing(missing)));
        }
    }
    let digest = m.digest.to_string();
    for tag in fixed {
        if let Some(current) = lifecycle::tag_moves(tx, repo, tag.as_str(), &digest)? {
            return Ok(Err(Refusal::TagImmutable {
                tag: tag.clone(),
                current,
            }));
        }
    }
    if let Some(over) = quota::admit(tx, repo, &digest, m.size, limits)? {
        return Ok(Err(over));
    }
    if let Err(refused) = insert_link(tx, repo, &digest, m.size)? {
        return Ok(Err(refused));
    }
    ensure_repository(tx, repo)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO manifests
         (repo, digest, media_type, size, artifact_type, subject, annotations, created_ms, refs_recorded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
    )?
    .execute(params![
        repo,
        digest,
        m.media_type,
        m.size as i64,
        m.artifact_type,
        m.subject.as_ref().map(|s| s.to_string()),
        annotations,
        millis(SystemTime::now()),
    ])?;
    gc::record_references(tx, repo, &digest, references)?;
    let mut tag_stmt =
        tx.prepare_cached("INSERT OR REPLACE INTO tags (repo, tag, digest, pushed_ms) VALUES (?1, ?2, ?3, ?4)")?;
    let now = millis(SystemTime::now());
    for tag in tags {
        tag_stmt.execute(params![repo, tag, digest, now])?;
    }
    Ok(Ok(()))
}

/// A refusal inside a write's answer, as the store's error.
fn refused<T>(answer: MetaResult<Result<T, Refusal>>) -> MetaResult<T> {
    answer?.map_err(MetaError::refused)
}

/// Removes upload session `id`; whether it was there.
fn delete_session(tx: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(tx.prepare_cached("DELETE FROM uploads WHERE id = ?1")?.execute([id])? > 0)
}

/// Runs a sorted listing query that takes (`after`, `limit`) and fetches one extra row
/// to learn whether more follow.
fn page(
    conn: &Connection,
    sql: &str,
    key: Option<&str>,
    after: Option<&str>,
    limit: Option<usize>,
) -> rusqlite::Result<Page> {
    let fetch = limit.map(|l| l as i64 + 1).unwrap_or(-1);
    let after = after.unwrap_or("");
    let mut stmt = conn.prepare_cached(sql)?;
    let column = |r: &Row<'_>| r.get::<_, String>(0);
    let mut items = match key {
        Some(k) => stmt
            .query_map(params![k, after, fetch], column)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => stmt
            .query_map(params![after, fetch], column)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    let more = limit.is_some_and(|l| items.len() > l);
    if let Some(l) = limit {
        items.truncate(l);
    }
    Ok(Page { items, more })
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    #[tracing::instrument(level = "debug", name = "meta.claim_blob", skip_all)]
    async fn claim_blob(&self, digest: &Digest, size: u64) -> MetaResult<BlobClaim> {
        let digest = digest.to_string();
        let now = millis(SystemTime::now());
        // A claim lost to a power cut only leaves bytes no row accounts for, which the
        // collector removes after the grace period: it need not wait for a sync.
        self.write_session(move |tx| gc::claim(tx, &digest, size, now)).await
    }

    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.link_blob_within(repo, digest, size, Limits::NONE).await
    }

    #[tracing::instrument(level = "debug", name = "meta.link_blob", skip_all)]
    async fn link_blob_within(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        refused(
            self.write(move |tx| link_rows(tx, &repo, &digest, size, None, limits))
                .await,
        )
    }

    #[tracing::instrument(level = "debug", name = "meta.linked_blob", skip_all)]
    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<u64>> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        let cache = &self.inner.cache;
        if let Some(size) = cache.link(&repo, &digest) {
            return Ok(Some(size));
        }
        let generation = cache.generation();
        let (r, d) = (repo.clone(), digest.clone());
        let found = self
            .read(move |c| {
                c.prepare_cached("SELECT size FROM links WHERE repo = ?1 AND digest = ?2")?
                    .query_row(params![r, d], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|s| s.map(|s| s as u64))
            })
            .await?;
        if let Some(size) = found {
            cache.keep_link(generation, repo, digest, size);
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", name = "meta.linked_blobs", skip_all)]
    async fn linked_blobs(&self, repo: &RepositoryName, digests: &[Digest]) -> MetaResult<HashMap<Digest, u64>> {
        let repo = repo.to_string();
        let cache = &self.inner.cache;
        let mut found = HashMap::new();
        let mut unknown = Vec::new();
        for d in digests {
            match cache.link(&repo, &d.to_string()) {
                Some(size) => {
                    found.insert(d.clone(), size);
                }
                None => unknown.push(d.clone()),
            }
        }
        if unknown.is_empty() {
            return Ok(found);
        }
        let generation = cache.generation();
        let r = repo.clone();
        let looked_up = self
            .read(move |c| {
                let mut stmt = c.prepare_cached("SELECT size FROM links WHERE repo = ?1 AND digest = ?2")?;
                let mut found = Vec::new();
                for d in unknown {
                    if let Some(size) = stmt
                        .query_row(params![r, d.to_string()], |r| r.get::<_, i64>(0))
                        .optional()?
                    {
                        found.push((d, size as u64));
                    }
                }
                Ok(found)
            })
            .await?;
        for (d, size) in looked_up {
            cache.keep_link(generation, repo.clone(), d.to_string(), size);
            found.insert(d, size);
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", name = "meta.unlink_blob", skip_all)]
    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        let (r, d) = (repo.clone(), digest.clone());
        let unlinked = self.write(move |tx| delete_link_row(tx, &r, &d)).await;
        self.inner.cache.forget(Change::Unlinked {
            repo: &repo,
            digest: &digest,
        });
        unlinked
    }

    #[tracing::instrument(level = "debug", name = "meta.known_blob", skip_all)]
    async fn known_blob(&self, digest: &Digest) -> MetaResult<Option<u64>> {
        let digest = digest.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT size FROM links WHERE digest = ?1 LIMIT 1")?
                .query_row([digest], |r| r.get::<_, i64>(0))
                .optional()
                .map(|s| s.map(|s| s as u64))
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.blob_is_linked_anywhere", skip_all)]
    async fn blob_is_linked_anywhere(&self, digest: &Digest) -> MetaResult<bool> {
        Ok(self.known_blob(digest).await?.is_some())
    }

    #[tracing::instrument(level = "debug", name = "meta.put_manifest", skip_all)]
    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        m: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
    ) -> MetaResult<()> {
        self.put_manifest_within(repo, m, tags, references, require_linked, &[], Limits::NONE)
            .await
    }

    async fn put_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        m: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
    ) -> MetaResult<()> {
        self.put_manifest_within(repo, m, tags, references, require_linked, fixed, Limits::NONE)
            .await
    }

    async fn put_manifest_within(
        &self,
        repo: &RepositoryName,
        m: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
        limits: Limits,
    ) -> MetaResult<()> {
        let fixed: Vec<Tag> = fixed.to_vec();
        let repo = repo.to_string();
        let m = m.clone();
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let references: Vec<String> = references.iter().map(|d| d.to_string()).collect();
        let (changed_repo, changed_tags) = (repo.clone(), tags.clone());
        let annotations = m
            .annotations
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap_or_default());
        let put = self
            .write(move |tx| {
                put_manifest_rows(
                    tx,
                    &repo,
                    &m,
                    annotations,
                    &tags,
                    &references,
                    require_linked,
                    &fixed,
                    limits,
                )
            })
            .await;
        self.inner.cache.forget(Change::Tagged {
            repo: &changed_repo,
            tags: &changed_tags,
        });
        refused(put)
    }

    #[tracing::instrument(level = "debug", name = "meta.manifest", skip_all)]
    async fn manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<ManifestRecord>> {
        self.cached_record(
            Kind::Manifest,
            repo,
            digest.to_string(),
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repo = ?1 AND digest = ?2",
        )
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.tagged_manifest", skip_all)]
    async fn tagged_manifest(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<Option<ManifestRecord>> {
        self.cached_record(
            Kind::Tag,
            repo,
            tag.to_string(),
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repo = ?1 AND digest =
             (SELECT digest FROM tags WHERE repo = ?1 AND tag = ?2)",
        )
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.delete_manifest", skip_all)]
    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        let (changed_repo, changed_digest) = (repo.clone(), digest.clone());
        let deleted = self
            .write(move |tx| lifecycle::delete_manifest_rows(tx, &repo, &digest))
            .await;
        self.inner.cache.forget(Change::ManifestDeleted {
            repo: &changed_repo,
            digest: &changed_digest,
        });
        deleted
    }

    #[tracing::instrument(level = "debug", name = "meta.delete_tag", skip_all)]
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        let (changed_repo, changed_tag) = (repo.clone(), tag.clone());
        let deleted = self.write(move |tx| delete_tag_row(tx, &repo, &tag)).await;
        self.inner.cache.forget(Change::Untagged {
            repo: &changed_repo,
            tag: &changed_tag,
        });
        deleted
    }

    #[tracing::instrument(level = "debug", name = "meta.list_tags", skip_all)]
    async fn list_tags(&self, repo: &RepositoryName, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        let repo = repo.to_string();
        let after = after.map(str::to_string);
        self.read(move |c| {
            page(
                c,
                "SELECT tag FROM tags WHERE repo = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3",
                Some(&repo),
                after.as_deref(),
                limit,
            )
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.repository_exists", skip_all)]
    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        let repo = repo.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM repositories WHERE name = ?1")?
                .query_row([repo], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.list_repositories", skip_all)]
    async fn list_repositories(&self, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        let after = after.map(str::to_string);
        self.read(move |c| {
            page(
                c,
                "SELECT name FROM repositories WHERE name > ?1 ORDER BY name LIMIT ?2",
                None,
                after.as_deref(),
                limit,
            )
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.referrers", skip_all)]
    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> MetaResult<Vec<ManifestRecord>> {
        let (repo, subject) = (repo.to_string(), subject.to_string());
        let artifact_type = artifact_type.map(str::to_string);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repo = ?1 AND subject = ?2
                 AND (?3 IS NULL OR artifact_type = ?3) ORDER BY digest"
            ))?;
            let rows = stmt.query_map(params![repo, subject, artifact_type], manifest_from_row)?;
            rows.collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.create_upload", skip_all)]
    async fn create_upload(&self, session: &UploadSession) -> MetaResult<()> {
        let s = session.clone();
        self.write_session(move |tx| {
            tx.prepare_cached(
                "INSERT INTO uploads (id, repo, offset, algorithm, hasher_state, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![s.id, s.repository.to_string(), s.offset as i64, s.algorithm.as_str(), s.hasher_state, millis(s.updated)])?;
            Ok(())
        })
        .await?;
        self.inner.sessions.committed(session);
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "meta.upload", skip_all)]
    async fn upload(&self, id: &str) -> MetaResult<Option<UploadSession>> {
        if let Some(session) = self.inner.sessions.get(id) {
            return Ok(Some(session));
        }
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT id, repo, offset, algorithm, hasher_state, updated_ms FROM uploads WHERE id = ?1")?
                .query_row([id], |r| {
                    Ok(UploadSession {
                        id: r.get(0)?,
                        repository: parsed(r, 1)?,
                        offset: r.get::<_, i64>(2)? as u64,
                        algorithm: parsed(r, 3)?,
                        hasher_state: r.get(4)?,
                        updated: UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(5)? as u64),
                    })
                })
                .optional()
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.advance_upload", skip_all)]
    async fn advance_upload(&self, session: &UploadSession, expected_offset: u64) -> MetaResult<bool> {
        let s = session.clone();
        let advanced = self
            .write_session(move |tx| {
                let changed = tx
                .prepare_cached(
                    "UPDATE uploads SET offset = ?2, hasher_state = ?3, updated_ms = ?4 WHERE id = ?1 AND offset = ?5",
                )?
                .execute(params![
                    s.id,
                    s.offset as i64,
                    s.hasher_state,
                    millis(s.updated),
                    expected_offset as i64
                ])?;
                Ok(changed > 0)
            })
            .await;
        match advanced {
            Ok(true) => self.inner.sessions.committed(session),
            _ => self.inner.sessions.forget(&session.id),
        }
        advanced
    }

    #[tracing::instrument(level = "debug", name = "meta.delete_upload", skip_all)]
    async fn delete_upload(&self, id: &str) -> MetaResult<bool> {
        let key = id.to_string();
        let deleted = self.write_session(move |tx| delete_session(tx, &key)).await;
        self.inner.sessions.forget(id);
        deleted
    }

    async fn complete_upload(&self, id: &str, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.complete_upload_within(id, repo, digest, size, Limits::NONE).await
    }

    #[tracing::instrument(level = "debug", name = "meta.complete_upload", skip_all)]
    async fn complete_upload_within(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        let (key, repo, digest) = (id.to_string(), repo.to_string(), digest.to_string());
        let completed = self
            .write(move |tx| link_rows(tx, &repo, &digest, size, Some(&key), limits))
            .await;
        self.inner.sessions.forget(id);
        refused(completed)
    }

    #[tracing::instrument(level = "debug", name = "meta.idle_uploads", skip_all)]
    async fn idle_uploads(&self, cutoff: SystemTime) -> MetaResult<Vec<String>> {
        let cutoff = millis(cutoff);
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT id FROM uploads WHERE updated_ms < ?1")?;
            let rows = stmt.query_map([cutoff], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "meta.gc_snapshot", skip_all)]
    async fn gc_snapshot(&self) -> MetaResult<GcSnapshot> {
        self.read(gc::snapshot).await
    }

    #[tracing::instrument(level = "debug", name = "meta.record_references", skip_all)]
    async fn record_references(
        &self,
        repo: &RepositoryName,
        manifest: &Digest,
        references: &[Digest],
    ) -> MetaResult<()> {
        let (repo, manifest) = (repo.to_string(), manifest.to_string());
        let references: Vec<String> = references.iter().map(|d| d.to_string()).collect();
        self.write(move |tx| gc::record_references(tx, &repo, &manifest, &references))
            .await
    }

    #[tracing::instrument(level = "debug", name = "meta.remove_unused_manifests", skip_all)]
    async fn remove_unused_manifests(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        let items = manifests.to_vec();
        self.gc_write(move |tx| gc::remove_unused_manifests(tx, items, cutoff))
            .await
    }

    #[tracing::instrument(level = "debug", name = "meta.remove_unused_manifests", skip_all)]
    async fn remove_unused_manifests_with_events(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
        events: Vec<Vec<NewEvent>>,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        let items = manifests.to_vec();
        self.gc_write(move |tx| outbox::remove_unused_manifests(tx, items, cutoff, &events))
            .await
    }

    #[tracing::instrument(level = "debug", name = "meta.remove_unused_links", skip_all)]
    async fn remove_unused_links(
        &self,
        links: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        let items = links.to_vec();
        self.gc_write(move |tx| gc::remove_unused_links(tx, items, cutoff))
            .await
    }

    #[tracing::instrument(level = "debug", name = "meta.mark_blobs_deleting", skip_all)]
    async fn mark_blobs_deleting(&self, digests: &[Digest], cutoff: SystemTime) -> MetaResult<Vec<Digest>> {
        let digests = digests.to_vec();
        self.gc_write(move |tx| gc::mark_deleting(tx, digests, cutoff)).await
    }

    #[tracing::instrument(level = "debug", name = "meta.fence_stray_blobs", skip_all)]
    async fn fence_stray_blobs(&self, blobs: &[(Digest, u64)]) -> MetaResult<Vec<Digest>> {
        let blobs = blobs.to_vec();
        let now = millis(SystemTime::now());
        self.write(move |tx| gc::fence_stray(tx, blobs, now)).await
    }

    /// Pull times need survive only a crash of the process, as upload bookkeeping: a
    /// power cut that loses the last batch makes those links look a little older.
    #[tracing::instrument(level = "debug", name = "meta.record_pulls", skip_all)]
    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        if pulls.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = pulls
            .iter()
            .map(|p| (p.repository.to_string(), p.digest.to_string(), millis(p.at)))
            .collect();
        self.write_session(move |tx| gc::record_pulls(tx, rows)).await
    }

    #[tracing::instrument(level = "debug", name = "meta.forget_deleted_blobs", skip_all)]
    async fn forget_deleted_blobs(&self, digests: &[Digest]) -> MetaResult<()> {
        let digests = digests.to_vec();
        self.write(move |tx| gc::forget_deleted(tx, digests)).await
    }

    async fn delete_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        fixed: TagFilter,
    ) -> MetaResult<bool> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        let (changed_repo, changed_digest) = (repo.clone(), digest.clone());
        let deleted = self
            .write(move |tx| {
                if let Some(tag) = lifecycle::guarded_tag(tx, &repo, &digest, &fixed)? {
                    return Ok(Err(tag));
                }
                lifecycle::delete_manifest_rows(tx, &repo, &digest).map(Ok)
            })
            .await;
        self.inner.cache.forget(Change::ManifestDeleted {
            repo: &changed_repo,
            digest: &changed_digest,
        });
        match deleted? {
            Ok(deleted) => Ok(deleted),
            Err(tag) => {
                let digest: Digest = changed_digest.parse().map_err(MetaError::new)?;
                let tag: Tag = tag.parse().map_err(MetaError::new)?;
                Err(MetaError::refused(Refusal::TagImmutable { tag, current: digest }))
            }
        }
    }

    async fn delete_tag_at(&self, repo: &RepositoryName, tag: &Tag, digest: &Digest) -> MetaResult<bool> {
        let (repo, tag, digest) = (repo.to_string(), tag.to_string(), digest.to_string());
        let (changed_repo, changed_tag) = (repo.clone(), tag.clone());
        let deleted = self
            .write(move |tx| {
                Ok(tx
                    .prepare_cached("DELETE FROM tags WHERE repo = ?1 AND tag = ?2 AND digest = ?3")?
                    .execute(params![repo, tag, digest])?
                    > 0)
            })
            .await;
        self.inner.cache.forget(Change::Untagged {
            repo: &changed_repo,
            tag: &changed_tag,
        });
        deleted
    }

    async fn repository_usage(&self, repo: &RepositoryName) -> MetaResult<u64> {
        let repo = repo.to_string();
        self.read(move |c| quota::repository_usage(c, &repo)).await
    }

    async fn total_usage(&self) -> MetaResult<u64> {
        self.read(quota::total_usage).await
    }

    async fn apply_with_events(&self, change: Applied<'_>, events: Vec<NewEvent>) -> MetaResult<bool> {
        self.apply_recorded(change, events).await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> MetaResult<()> {
        self.append_recorded(events).await
    }

    async fn outbox_lease(
        &self,
        endpoint: &str,
        holder: &str,
        lease_until: SystemTime,
        limit: usize,
    ) -> MetaResult<Leased> {
        self.lease_cursor(endpoint, holder, lease_until, limit).await
    }

    async fn outbox_advance(&self, endpoint: &str, holder: &str, seq: u64) -> MetaResult<bool> {
        self.advance_cursor(endpoint, holder, seq).await
    }

    async fn outbox_prune(&self, endpoints: &[String]) -> MetaResult<u64> {
        self.prune_outbox(endpoints).await
    }

    async fn tag_details(&self, repo: &RepositoryName) -> MetaResult<Vec<TagDetail>> {
        let repo = repo.to_string();
        self.read(move |c| browse::tag_details(c, &repo)).await
    }

    async fn tag_page(
        &self,
        repo: &RepositoryName,
        order: TagOrder,
        after: Option<&TagCursor>,
        limit: usize,
    ) -> MetaResult<Vec<TagDetail>> {
        let (repo, after) = (repo.to_string(), after.cloned());
        self.read(move |c| browse::tag_page(c, &repo, order, after.as_ref(), limit))
            .await
    }

    async fn untagged_manifests(&self, repo: &RepositoryName) -> MetaResult<Vec<ManifestDetail>> {
        let repo = repo.to_string();
        self.read(move |c| browse::untagged_manifests(c, &repo)).await
    }

    async fn collection_started(&self, id: &str, started: SystemTime) -> MetaResult<()> {
        let id = id.to_string();
        self.write(move |tx| ui_state::collection_started(tx, &id, millis(started)))
            .await
    }

    async fn collection_ended(&self, id: &str, ended: SystemTime, outcome: &CollectionOutcome) -> MetaResult<()> {
        let (id, outcome) = (id.to_string(), outcome.clone());
        self.write(move |tx| ui_state::collection_ended(tx, &id, millis(ended), &outcome))
            .await
    }

    async fn last_collection(&self) -> MetaResult<Option<CollectionRun>> {
        self.read(ui_state::last_collection).await
    }

    async fn revoke_session(&self, id: &str, expires: SystemTime) -> MetaResult<()> {
        let id = id.to_string();
        let now = millis(SystemTime::now());
        self.write(move |tx| ui_state::revoke_session(tx, &id, millis(expires), now))
            .await
    }

    async fn session_revoked(&self, id: &str) -> MetaResult<bool> {
        let id = id.to_string();
        self.read(move |c| ui_state::session_revoked(c, &id)).await
    }

    async fn repository_summary(&self, repo: &RepositoryName) -> MetaResult<RepositorySummary> {
        let repo = repo.to_string();
        self.read(move |c| browse::repository_summary(c, &repo)).await
    }

    /// A read on a reader connection, and a write through the writer thread: a session
    /// row inserted and deleted in one transaction, so the database takes the write
    /// lock and commits (dirty pages reach the WAL) while nothing is left behind.
    async fn check_ready(&self) -> MetaResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await?;
        self.write_session(|tx| {
            tx.execute(
                "INSERT INTO uploads (id, repo, offset, algorithm, hasher_state, updated_ms) \
                 VALUES ('wharf-readiness-probe', '', 0, '', x'', 0)",
                [],
            )?;
            tx.execute("DELETE FROM uploads WHERE id = 'wharf-readiness-probe'", [])?;
            Ok(())
        })
        .await
    }
}
