//! The garbage collector's statements: the snapshot it decides from, and the removals.
//!
//! Each removal first locks the row it may remove or mark (`FOR UPDATE`, a statement of
//! its own: it waits for any push holding the row), then re-checks its condition in the
//! next statement, whose fresh READ COMMITTED snapshot sees what such a push committed.

use super::{db_err, parsed, time, Client, PgResult, Transaction};
use crate::meta::{GcBlob, GcLink, GcManifest, GcSnapshot, MetaResult};
use tokio_postgres::IsolationLevel;
use wharf_oci::{Digest, RepositoryName};

/// Everything the collector reads, in one REPEATABLE READ transaction (one snapshot).
pub async fn snapshot(client: &mut Client) -> MetaResult<GcSnapshot> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db_err)?;
    let mut snapshot = GcSnapshot::default();
    let rows = tx
        .query(
            "SELECT m.repo, m.digest, m.size, m.created_ms, m.subject, m.refs_recorded,
                    EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest), m.media_type
             FROM manifests m",
            &[],
        )
        .await
        .map_err(db_err)?;
    for r in &rows {
        let subject: Option<&str> = r.get(4);
        snapshot.manifests.push(GcManifest {
            repository: parsed(r, 0)?,
            digest: parsed(r, 1)?,
            size: r.get::<_, i64>(2) as u64,
            created: time(r.get(3)),
            subject: subject.and_then(|s| s.parse().ok()),
            references_recorded: r.get(5),
            tagged: r.get(6),
            media_type: r.get(7),
        });
    }
    let rows = tx
        .query("SELECT repo, manifest, digest FROM manifest_refs", &[])
        .await
        .map_err(db_err)?;
    for r in &rows {
        snapshot.references.push((parsed(r, 0)?, parsed(r, 1)?, parsed(r, 2)?));
    }
    let rows = tx
        .query("SELECT repo, digest, size, created_ms, pulled_ms FROM links", &[])
        .await
        .map_err(db_err)?;
    for r in &rows {
        snapshot.links.push(GcLink {
            repository: parsed(r, 0)?,
            digest: parsed(r, 1)?,
            size: r.get::<_, i64>(2) as u64,
            created: time(r.get(3)),
            pulled: r.get::<_, Option<i64>>(4).map(time),
        });
    }
    let rows = tx
        .query("SELECT digest, size, touched_ms, deleting FROM blobs", &[])
        .await
        .map_err(db_err)?;
    for r in &rows {
        snapshot.blobs.push(GcBlob {
            digest: parsed(r, 0)?,
            size: r.get::<_, i64>(1) as u64,
            touched: time(r.get(2)),
            deleting: r.get(3),
        });
    }
    tx.commit().await.map_err(db_err)?;
    Ok(snapshot)
}

pub type Items = Vec<(RepositoryName, Digest)>;

/// The lock on "manifest `$2` of repository `$1` exists", a transaction-scoped advisory
/// lock keyed by a hash of the two. A row lock cannot fence a row not yet inserted: a
/// referrer's collection reads that its subject is absent while a push of the subject
/// on another replica has inserted it but not committed, and would remove the referrer
/// of a subject about to exist. So a manifest push holds this lock shared on its own
/// digest until it commits, and the collector takes it exclusively on a referrer's
/// subject before it checks that the subject is gone: it then sees the push's commit,
/// or the push waits and comes after the collection.
pub const SUBJECT_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '@' || $2::text, 0))";

/// [`SUBJECT_LOCK`], shared: what a manifest push holds on its own digest.
pub const SUBJECT_LOCK_SHARED: &str =
    "SELECT pg_advisory_xact_lock_shared(hashtextextended($1::text || '@' || $2::text, 0))";

pub async fn remove_unused_manifests(
    tx: &Transaction<'_>,
    items: &[(RepositoryName, Digest)],
    cutoff_ms: i64,
) -> PgResult<Items> {
    // The link first: a manifest PUT that requires this manifest (an index) holds it
    // FOR SHARE; then the manifest row, which a PUT of the same manifest upserts.
    let lock_link = tx
        .prepare_cached("SELECT 1 FROM links WHERE repo = $1 AND digest = $2 FOR UPDATE")
        .await?;
    let lock_manifest = tx
        .prepare_cached("SELECT subject FROM manifests WHERE repo = $1 AND digest = $2 FOR UPDATE")
        .await?;
    let lock_subject = tx.prepare_cached(SUBJECT_LOCK).await?;
    let check = tx
        .prepare_cached(
            "SELECT 1 FROM manifests m WHERE m.repo = $1 AND m.digest = $2 AND m.created_ms < $3
             AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = $1 AND t.digest = $2)
             AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = $1 AND r.digest = $2)
             AND (m.subject IS NULL
                  OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repo = $1 AND s.digest = m.subject))",
        )
        .await?;
    let mut removed = Vec::new();
    for (repo, digest) in items {
        let (r, d) = (repo.as_str(), digest.to_string());
        tx.query(&lock_link, &[&r, &d]).await?;
        let Some(row) = tx.query_opt(&lock_manifest, &[&r, &d]).await? else {
            continue;
        };
        if let Some(subject) = row.get::<_, Option<String>>(0) {
            tx.execute(&lock_subject, &[&r, &subject]).await?;
        }
        if tx.query_opt(&check, &[&r, &d, &cutoff_ms]).await?.is_none() {
            continue;
        }
        for sql in [
            "DELETE FROM manifests WHERE repo = $1 AND digest = $2",
            "DELETE FROM manifest_refs WHERE repo = $1 AND manifest = $2",
            "DELETE FROM links WHERE repo = $1 AND digest = $2",
        ] {
            let stmt = tx.prepare_cached(sql).await?;
            tx.execute(&stmt, &[&r, &d]).await?;
        }
        removed.push((repo.clone(), digest.clone()));
    }
    Ok(removed)
}

pub async fn remove_unused_links(
    tx: &Transaction<'_>,
    items: &[(RepositoryName, Digest)],
    cutoff_ms: i64,
) -> PgResult<Items> {
    let lock = tx
        .prepare_cached("SELECT 1 FROM links WHERE repo = $1 AND digest = $2 FOR UPDATE")
        .await?;
    let delete = tx
        .prepare_cached(
            "DELETE FROM links WHERE repo = $1 AND digest = $2 AND created_ms < $3
             AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = $1 AND m.digest = $2)
             AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = $1 AND r.digest = $2)",
        )
        .await?;
    let mut removed = Vec::new();
    for (repo, digest) in items {
        let (r, d) = (repo.as_str(), digest.to_string());
        if tx.query_opt(&lock, &[&r, &d]).await?.is_none() {
            continue;
        }
        if tx.execute(&delete, &[&r, &d, &cutoff_ms]).await? > 0 {
            removed.push((repo.clone(), digest.clone()));
        }
    }
    Ok(removed)
}

pub async fn mark_deleting(tx: &Transaction<'_>, digests: &[Digest], cutoff_ms: i64) -> PgResult<Vec<Digest>> {
    let lock = tx
        .prepare_cached("SELECT 1 FROM blobs WHERE digest = $1 FOR UPDATE")
        .await?;
    let mark = tx
        .prepare_cached(
            "UPDATE blobs SET deleting = true WHERE digest = $1
             AND (deleting OR (touched_ms < $2 AND NOT EXISTS (SELECT 1 FROM links l WHERE l.digest = $1)))",
        )
        .await?;
    let mut marked = Vec::new();
    for digest in digests {
        let d = digest.to_string();
        if tx.query_opt(&lock, &[&d]).await?.is_none() {
            continue;
        }
        if tx.execute(&mark, &[&d, &cutoff_ms]).await? > 0 {
            marked.push(digest.clone());
        }
    }
    Ok(marked)
}

pub async fn fence_stray(tx: &Transaction<'_>, blobs: &[(Digest, u64)], now_ms: i64) -> PgResult<Vec<Digest>> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO blobs (digest, size, touched_ms, deleting) VALUES ($1, $2, $3, true)
             ON CONFLICT (digest) DO NOTHING",
        )
        .await?;
    let mut fenced = Vec::new();
    for (digest, size) in blobs {
        if tx
            .execute(&insert, &[&digest.to_string(), &(*size as i64), &now_ms])
            .await?
            > 0
        {
            fenced.push(digest.clone());
        }
    }
    Ok(fenced)
}

pub async fn forget_deleted(tx: &Transaction<'_>, digests: &[Digest]) -> PgResult<()> {
    let delete = tx
        .prepare_cached("DELETE FROM blobs WHERE digest = $1 AND deleting")
        .await?;
    for digest in digests {
        tx.execute(&delete, &[&digest.to_string()]).await?;
    }
    Ok(())
}

/// Records pull times (see `meta::pulls`) in one statement: each existing link keeps
/// the later time. Rows are updated in key order, so that two replicas flushing at once
/// cannot deadlock.
pub async fn record_pulls(tx: &Transaction<'_>, pulls: &[crate::meta::Pull]) -> PgResult<()> {
    let mut rows: Vec<(String, String, i64)> = pulls
        .iter()
        .map(|p| (p.repository.to_string(), p.digest.to_string(), super::millis(p.at)))
        .collect();
    rows.sort();
    rows.dedup_by(|a, b| {
        let same = a.0 == b.0 && a.1 == b.1;
        if same {
            b.2 = b.2.max(a.2);
        }
        same
    });
    let repos: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let digests: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let times: Vec<i64> = rows.iter().map(|r| r.2).collect();
    tx.execute(
        r#"UPDATE links l SET pulled_ms = GREATEST(coalesce(l.pulled_ms, 0), p.at)
           FROM (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(repo, digest, at)
                 ORDER BY repo, digest) p
           WHERE l.repo = p.repo COLLATE "C" AND l.digest = p.digest COLLATE "C""#,
        &[&repos, &digests, &times],
    )
    .await?;
    Ok(())
}
