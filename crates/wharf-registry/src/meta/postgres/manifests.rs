//! Manifests, their required references and their tags.

use super::group_read::Lookup;
use super::{db_err, fence, parsed, PgResult, Transaction};
use crate::meta::{ManifestRecord, MetaResult, Refusal};
use deadpool_postgres::GenericClient;
use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;
use wharf_oci::Digest;

pub(super) const COLUMNS: &str = "m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations";

pub(super) fn record(row: &tokio_postgres::Row) -> MetaResult<ManifestRecord> {
    let subject: Option<&str> = row.get(4);
    let annotations: Option<&str> = row.get(5);
    Ok(ManifestRecord {
        digest: parsed(row, 0)?,
        media_type: row.get(1),
        size: row.get::<_, i64>(2) as u64,
        artifact_type: row.get(3),
        subject: subject.and_then(|s| s.parse().ok()),
        annotations: annotations.and_then(|a| serde_json::from_str::<BTreeMap<String, String>>(a).ok()),
    })
}

/// One `put_manifest` call's input; [`Put::run`] is its transaction (run again whole
/// when PostgreSQL asks for a retry).
pub struct Put<'a> {
    pub repo: &'a str,
    pub manifest: &'a ManifestRecord,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub require_linked: bool,
}

impl Put<'_> {
    /// Two round trips after the caller's BEGIN: the locks and checks, pipelined, then
    /// (unless a check refuses) the writes, pipelined. Statements on one connection run
    /// in the order they are sent, so each still holds its lock before the next reads;
    /// only the waits between them are gone.
    ///
    /// **A manifest stored already, tagged again** (a push of the same image under new
    /// tags, often several at once) writes its tags and nothing else that another push
    /// of it also writes: rewriting the manifest's row and link would lock them to the
    /// commit, and concurrent pushes of one manifest would then commit one after the
    /// other, each waiting for the previous one's WAL flush, instead of sharing one.
    /// Its rows are held `FOR KEY SHARE` instead (see [`Put::retag`]).
    pub async fn run(&self, tx: &Transaction<'_>) -> PgResult<Result<(), Refusal>> {
        let repo = self.repo;
        let m = self.manifest;
        let digest = m.digest.to_string();
        // Prepared before anything is sent (from the connection's cache after its first
        // push): a statement prepared while others are in flight would be sent out of
        // order.
        let subject_lock = tx.prepare_cached(super::gc::SUBJECT_LOCK_SHARED).await?;
        let lock_links = tx
            .prepare_cached("SELECT digest FROM links WHERE repo = $1 AND digest = ANY($2) ORDER BY digest FOR SHARE")
            .await?;
        let lock_blob = tx.prepare_cached(fence::LOCK_BLOB).await?;
        let own_link = tx.prepare_cached(OWN_LINK).await?;
        let stored = tx.prepare_cached(STORED_MANIFEST).await?;

        // The locks and checks. This manifest's subject lock, shared, to the commit: a
        // collection deciding that its referrers' subject is gone waits for this push
        // (see `gc::SUBJECT_LOCK`). The references' links and the manifest's own blob
        // row are held FOR SHARE to the commit: a collector removing or marking one
        // waits, then sees this manifest require it. The manifest's own link and row,
        // when they exist, FOR KEY SHARE to the commit (link first, in the collector's
        // order): a collector removing them, or a deletion, waits and then sees this
        // push's tags; another push may still refresh them meanwhile.
        let (subject_params, links_params, blob_params, own_params): (Params, Params, Params, Params) = (
            &[&repo, &digest],
            &[&repo, &self.references],
            &[&digest],
            &[&repo, &digest],
        );
        let (_, linked, blob, own_link, stored) = futures::try_join!(
            tx.execute(&subject_lock, subject_params),
            tx.query(&lock_links, links_params),
            tx.query_opt(&lock_blob, blob_params),
            tx.query_opt(&own_link, own_params),
            tx.query_opt(&stored, own_params),
        )?;
        if self.require_linked {
            let linked: HashSet<&str> = linked.iter().map(|r| r.get(0)).collect();
            let missing: Vec<Digest> = self
                .references
                .iter()
                .filter(|d| !linked.contains(d.as_str()))
                .filter_map(|d| d.parse().ok())
                .collect();
            if !missing.is_empty() {
                return Ok(Err(Refusal::ReferencesMissing(missing)));
            }
        }
        if let Err(refused) = fence::linkable_row(blob, &digest) {
            return Ok(Err(refused));
        }
        let annotations = m
            .annotations
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap_or_default());
        let now = super::millis(SystemTime::now());
        let stored_as_is = own_link.is_some_and(|row| row.get::<_, i64>(0) == m.size as i64)
            && stored.is_some_and(|row| same_record(&row, m, annotations.as_deref()));
        if stored_as_is && !self.tags.is_empty() {
            self.retag(tx, &digest, now).await?;
        } else {
            self.store(tx, &digest, annotations.as_deref(), now).await?;
        }
        Ok(Ok(()))
    }

    /// The writes of a manifest new to `repo` (or recorded otherwise, or pushed by
    /// digest alone): its link, repository, row, references and tags, each as new.
    async fn store(&self, tx: &Transaction<'_>, digest: &str, annotations: Option<&str>, now: i64) -> PgResult<()> {
        let (repo, m) = (self.repo, self.manifest);
        let link = tx.prepare_cached(fence::UPSERT_LINK).await?;
        let repository = tx.prepare_cached(fence::ENSURE_REPOSITORY).await?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO manifests
                 (repo, digest, media_type, size, artifact_type, subject, annotations, created_ms, refs_recorded)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
                 ON CONFLICT (repo, digest) DO UPDATE SET media_type = EXCLUDED.media_type,
                   size = EXCLUDED.size, artifact_type = EXCLUDED.artifact_type, subject = EXCLUDED.subject,
                   annotations = EXCLUDED.annotations, created_ms = EXCLUDED.created_ms, refs_recorded = true",
            )
            .await?;
        let clear_refs = tx.prepare_cached(CLEAR_REFERENCES).await?;
        let insert_refs = tx.prepare_cached(INSERT_REFERENCES).await?;
        let tag = tx.prepare_cached(UPSERT_TAGS).await?;
        let size = m.size as i64;
        let subject = m.subject.as_ref().map(|s| s.to_string());
        let link_params: Params = &[&repo, &digest, &size, &now];
        let repository_params: Params = &[&repo];
        let manifest_params: Params = &[
            &repo,
            &digest,
            &m.media_type,
            &size,
            &m.artifact_type,
            &subject,
            &annotations,
            &now,
        ];
        let clear_params: Params = &[&repo, &digest];
        let refs_params: Params = &[&repo, &digest, &self.references];
        let tag_params: Params = &[&repo, &self.tags, &digest, &now];
        futures::try_join!(
            tx.execute(&link, link_params),
            tx.execute(&repository, repository_params),
            tx.execute(&upsert, manifest_params),
            tx.execute(&clear_refs, clear_params),
            tx.execute(&insert_refs, refs_params),
            tx.execute(&tag, tag_params),
        )?;
        Ok(())
    }

    /// The writes of a manifest `repo` holds already as recorded (row, link and
    /// references), pushed again with tags: the tags, and the push time of its row and
    /// link moved to now, as [`Put::store`] does. A push time is moved only when no
    /// other push is moving it at this moment (`SKIP LOCKED`): that one's time, a few
    /// milliseconds from this one's, stands for both, and this push never waits for it.
    /// (Were that other push to roll back instead, the time would stay at the previous
    /// push. The collector never relies on it here: this push's tags keep the manifest,
    /// and the manifest its link. A push by digest alone always writes its time.)
    async fn retag(&self, tx: &Transaction<'_>, digest: &str, now: i64) -> PgResult<()> {
        let repo = self.repo;
        let repository = tx.prepare_cached(fence::ENSURE_REPOSITORY).await?;
        let tag = tx.prepare_cached(UPSERT_TAGS).await?;
        let touch_manifest = tx.prepare_cached(TOUCH_MANIFEST).await?;
        let touch_link = tx.prepare_cached(TOUCH_LINK).await?;
        let repository_params: Params = &[&repo];
        let tag_params: Params = &[&repo, &self.tags, &digest, &now];
        let touch_params: Params = &[&repo, &digest, &now];
        futures::try_join!(
            tx.execute(&repository, repository_params),
            tx.execute(&tag, tag_params),
            tx.execute(&touch_manifest, touch_params),
            tx.execute(&touch_link, touch_params),
        )?;
        Ok(())
    }
}

/// Whether a manifest row read by [`STORED_MANIFEST`] records `m` with its references.
fn same_record(row: &tokio_postgres::Row, m: &ManifestRecord, annotations: Option<&str>) -> bool {
    let subject = m.subject.as_ref().map(|s| s.to_string());
    row.get::<_, &str>(0) == m.media_type
        && row.get::<_, i64>(1) == m.size as i64
        && row.get::<_, Option<&str>>(2) == m.artifact_type.as_deref()
        && row.get::<_, Option<&str>>(3) == subject.as_deref()
        && row.get::<_, Option<&str>>(4) == annotations
        && row.get::<_, bool>(5)
}

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// The manifest's own link, held `FOR KEY SHARE` (see [`Put::run`]).
const OWN_LINK: &str = "SELECT size FROM links WHERE repo = $1 AND digest = $2 FOR KEY SHARE";

/// The manifest's row as recorded, held `FOR KEY SHARE` (see [`Put::run`]).
const STORED_MANIFEST: &str = "SELECT media_type, size, artifact_type, subject, annotations, refs_recorded
     FROM manifests WHERE repo = $1 AND digest = $2 FOR KEY SHARE";

/// Points each tag of `$2` at manifest `$3`, pushed at `$4`.
const UPSERT_TAGS: &str = "INSERT INTO tags (repo, tag, digest, pushed_ms)
     SELECT $1, t, $3, $4 FROM (SELECT DISTINCT unnest($2::text[]) AS t) AS u
     ON CONFLICT (repo, tag) DO UPDATE SET digest = EXCLUDED.digest, pushed_ms = EXCLUDED.pushed_ms";

/// Moves a stored manifest's push time to `$3`, unless another transaction is writing
/// its row right now (see [`Put::retag`]).
const TOUCH_MANIFEST: &str = "UPDATE manifests SET created_ms = GREATEST(created_ms, $3)
     WHERE (repo, digest) IN (SELECT repo, digest FROM manifests WHERE repo = $1 AND digest = $2
                              FOR NO KEY UPDATE SKIP LOCKED)";

/// Moves a link's time to `$3`, unless another transaction holds its row right now
/// (see [`Put::retag`]).
const TOUCH_LINK: &str = "UPDATE links SET created_ms = GREATEST(created_ms, $3)
     WHERE (repo, digest) IN (SELECT repo, digest FROM links WHERE repo = $1 AND digest = $2
                              FOR NO KEY UPDATE SKIP LOCKED)";

const CLEAR_REFERENCES: &str = "DELETE FROM manifest_refs WHERE repo = $1 AND manifest = $2";
const INSERT_REFERENCES: &str =
    "INSERT INTO manifest_refs (repo, manifest, digest) SELECT $1, $2, d FROM unnest($3::text[]) AS d
     ON CONFLICT DO NOTHING";

/// Replaces the recorded references of a manifest.
pub async fn record_references(
    tx: &Transaction<'_>,
    repo: &str,
    manifest: &str,
    references: &[String],
) -> PgResult<()> {
    let clear = tx.prepare_cached(CLEAR_REFERENCES).await?;
    tx.execute(&clear, &[&repo, &manifest]).await?;
    let insert = tx.prepare_cached(INSERT_REFERENCES).await?;
    tx.execute(&insert, &[&repo, &manifest, &references]).await?;
    let recorded = tx
        .prepare_cached("UPDATE manifests SET refs_recorded = true WHERE repo = $1 AND digest = $2")
        .await?;
    tx.execute(&recorded, &[&repo, &manifest]).await?;
    Ok(())
}

/// A manifest by digest, looked up in groups (see [`super::group_read`]).
pub struct ByDigest;

impl Lookup for ByDigest {
    type Answer = ManifestRecord;
    const SQL: &'static str = "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations, k.i
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(repo, digest, i)
         JOIN manifests m ON m.repo = k.repo COLLATE \"C\" AND m.digest = k.digest COLLATE \"C\"";
    fn answer(row: &tokio_postgres::Row) -> MetaResult<ManifestRecord> {
        record(row)
    }
}

/// The manifest a tag points at, looked up in groups (see [`super::group_read`]).
pub struct ByTag;

impl Lookup for ByTag {
    type Answer = ManifestRecord;
    const SQL: &'static str = "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.subject, m.annotations, k.i
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(repo, tag, i)
         JOIN tags t ON t.repo = k.repo COLLATE \"C\" AND t.tag = k.tag COLLATE \"C\"
         JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest";
    fn answer(row: &tokio_postgres::Row) -> MetaResult<ManifestRecord> {
        record(row)
    }
}

/// Removes a manifest with its tags, link and references; whether it was there.
pub async fn delete(tx: &Transaction<'_>, repo: &str, digest: &str) -> PgResult<bool> {
    let manifest = tx
        .prepare_cached("DELETE FROM manifests WHERE repo = $1 AND digest = $2")
        .await?;
    if tx.execute(&manifest, &[&repo, &digest]).await? == 0 {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM tags WHERE repo = $1 AND digest = $2",
        "DELETE FROM links WHERE repo = $1 AND digest = $2",
        "DELETE FROM manifest_refs WHERE repo = $1 AND manifest = $2",
    ] {
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(&stmt, &[&repo, &digest]).await?;
    }
    Ok(true)
}

pub async fn delete_tag(c: &impl GenericClient, repo: &str, tag: &str) -> PgResult<bool> {
    let stmt = c
        .prepare_cached("DELETE FROM tags WHERE repo = $1 AND tag = $2")
        .await?;
    Ok(c.execute(&stmt, &[&repo, &tag]).await? > 0)
}

pub async fn referrers(
    c: &impl GenericClient,
    repo: &str,
    subject: &str,
    artifact_type: Option<&str>,
) -> MetaResult<Vec<ManifestRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM manifests m WHERE m.repo = $1 AND m.subject = $2
             AND ($3::text IS NULL OR m.artifact_type = $3) ORDER BY m.digest"
        ))
        .await
        .map_err(db_err)?;
    let rows = c
        .query(&stmt, &[&repo, &subject, &artifact_type])
        .await
        .map_err(db_err)?;
    rows.iter().map(record).collect()
}
