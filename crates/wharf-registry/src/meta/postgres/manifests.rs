//! Manifests, their required references and their tags.

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
    pub async fn run(&self, tx: &Transaction<'_>) -> PgResult<Result<(), Refusal>> {
        let repo = self.repo;
        let digest = self.manifest.digest.to_string();
        // This manifest's subject lock, shared, to the commit: a collection deciding that
        // its referrers' subject is gone waits for this push (see `gc::SUBJECT_LOCK`).
        let subject_lock = tx.prepare_cached(super::gc::SUBJECT_LOCK_SHARED).await?;
        tx.execute(&subject_lock, &[&repo, &digest]).await?;
        // The references' links are held FOR SHARE to the commit: a collector removing
        // one waits, then sees this manifest require it.
        let lock_links = tx
            .prepare_cached("SELECT digest FROM links WHERE repo = $1 AND digest = ANY($2) ORDER BY digest FOR SHARE")
            .await?;
        let linked: HashSet<String> = tx
            .query(&lock_links, &[&repo, &self.references])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if self.require_linked {
            let missing: Vec<Digest> = self
                .references
                .iter()
                .filter(|d| !linked.contains(*d))
                .filter_map(|d| d.parse().ok())
                .collect();
            if !missing.is_empty() {
                return Ok(Err(Refusal::ReferencesMissing(missing)));
            }
        }
        let m = self.manifest;
        if let Err(refused) = fence::link(tx, repo, &digest, m.size).await? {
            return Ok(Err(refused));
        }
        let annotations = m
            .annotations
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap_or_default());
        let upsert = tx
            .prepare_cached(
                "INSERT INTO manifests
                 (repo, digest, media_type, size, artifact_type, subject, annotations, created_ms, refs_recorded)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false)
                 ON CONFLICT (repo, digest) DO UPDATE SET media_type = EXCLUDED.media_type,
                   size = EXCLUDED.size, artifact_type = EXCLUDED.artifact_type, subject = EXCLUDED.subject,
                   annotations = EXCLUDED.annotations, created_ms = EXCLUDED.created_ms, refs_recorded = false",
            )
            .await?;
        tx.execute(
            &upsert,
            &[
                &repo,
                &digest,
                &m.media_type,
                &(m.size as i64),
                &m.artifact_type,
                &m.subject.as_ref().map(|s| s.to_string()),
                &annotations,
                &super::millis(SystemTime::now()),
            ],
        )
        .await?;
        record_references(tx, repo, &digest, &self.references).await?;
        let tag = tx
            .prepare_cached(
                "INSERT INTO tags (repo, tag, digest, pushed_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (repo, tag) DO UPDATE SET digest = EXCLUDED.digest, pushed_ms = EXCLUDED.pushed_ms",
            )
            .await?;
        let now = super::millis(SystemTime::now());
        for t in &self.tags {
            tx.execute(&tag, &[&repo, t, &digest, &now]).await?;
        }
        Ok(Ok(()))
    }
}

/// Replaces the recorded references of a manifest.
pub async fn record_references(
    tx: &Transaction<'_>,
    repo: &str,
    manifest: &str,
    references: &[String],
) -> PgResult<()> {
    let clear = tx
        .prepare_cached("DELETE FROM manifest_refs WHERE repo = $1 AND manifest = $2")
        .await?;
    tx.execute(&clear, &[&repo, &manifest]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO manifest_refs (repo, manifest, digest) SELECT $1, $2, d FROM unnest($3::text[]) AS d
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&insert, &[&repo, &manifest, &references]).await?;
    let recorded = tx
        .prepare_cached("UPDATE manifests SET refs_recorded = true WHERE repo = $1 AND digest = $2")
        .await?;
    tx.execute(&recorded, &[&repo, &manifest]).await?;
    Ok(())
}

pub async fn by_digest(c: &impl GenericClient, repo: &str, digest: &str) -> MetaResult<Option<ManifestRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM manifests m WHERE m.repo = $1 AND m.digest = $2"
        ))
        .await
        .map_err(db_err)?;
    let row = c.query_opt(&stmt, &[&repo, &digest]).await.map_err(db_err)?;
    row.as_ref().map(record).transpose()
}

pub async fn by_tag(c: &impl GenericClient, repo: &str, tag: &str) -> MetaResult<Option<ManifestRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest
             WHERE t.repo = $1 AND t.tag = $2"
        ))
        .await
        .map_err(db_err)?;
    let row = c.query_opt(&stmt, &[&repo, &tag]).await.map_err(db_err)?;
    row.as_ref().map(record).transpose()
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
