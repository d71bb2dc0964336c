//! What the web UI reads and keeps: tags a page at a time by keyset, the record of
//! garbage collections, and UI sessions signed out (see the `MetaStore` calls of the
//! same names).

use super::manifests::{record, COLUMNS};
use super::{db_err, time, PgResult};
use crate::meta::{CollectionOutcome, CollectionRun, MetaResult, TagCursor, TagDetail, TagOrder, KEPT_COLLECTIONS};
use deadpool_postgres::GenericClient;

fn tag_detail(row: &tokio_postgres::Row) -> MetaResult<TagDetail> {
    let pushed: i64 = row.get(6);
    Ok(TagDetail {
        manifest: record(row)?,
        pushed: (pushed > 0).then(|| time(pushed)),
        tag: row.get(7),
    })
}

/// One page after the cursor: a seek into the primary key (by name) or into
/// `tags_by_push` (newest first), then `limit` rows.
pub async fn tag_page(
    c: &impl GenericClient,
    repo: &str,
    order: TagOrder,
    after: Option<&TagCursor>,
    limit: usize,
) -> MetaResult<Vec<TagDetail>> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let select = format!(
        "SELECT {COLUMNS}, t.pushed_ms, t.tag FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest"
    );
    let rows = match order {
        TagOrder::Name => {
            let stmt = c
                .prepare_cached(&format!(
                    "{select} WHERE t.repo = $1 AND t.tag > $2 ORDER BY t.tag LIMIT $3"
                ))
                .await
                .map_err(db_err)?;
            let after = after.map(|a| a.tag.as_str()).unwrap_or("");
            c.query(&stmt, &[&repo, &after, &limit]).await.map_err(db_err)?
        }
        TagOrder::Pushed => {
            let stmt = c
                .prepare_cached(&format!(
                    "{select} WHERE t.repo = $1 AND t.pushed_ms <= $2 AND (t.pushed_ms < $2 OR t.tag > $3)
                     ORDER BY t.pushed_ms DESC, t.tag LIMIT $4"
                ))
                .await
                .map_err(db_err)?;
            let (ms, tag) = after.map(|a| (a.pushed_ms, a.tag.as_str())).unwrap_or((i64::MAX, ""));
            c.query(&stmt, &[&repo, &ms, &tag, &limit]).await.map_err(db_err)?
        }
    };
    rows.iter().map(tag_detail).collect()
}

pub async fn collection_started(c: &impl GenericClient, id: &str, started_ms: i64) -> PgResult<()> {
    c.execute(
        "INSERT INTO gc_runs (id, started_ms) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        &[&id, &started_ms],
    )
    .await?;
    c.execute(
        "DELETE FROM gc_runs WHERE id NOT IN
         (SELECT id FROM gc_runs ORDER BY started_ms DESC, id DESC LIMIT $1)",
        &[&(KEPT_COLLECTIONS as i64)],
    )
    .await?;
    Ok(())
}

pub async fn collection_ended(
    c: &impl GenericClient,
    id: &str,
    ended_ms: i64,
    outcome: &CollectionOutcome,
) -> PgResult<()> {
    let (manifests, blobs, bytes_freed, error) = outcome.columns();
    c.execute(
        "UPDATE gc_runs SET ended_ms = $2, manifests = $3, blobs = $4, bytes_freed = $5, error = $6 WHERE id = $1",
        &[&id, &ended_ms, &manifests, &blobs, &bytes_freed, &error],
    )
    .await?;
    Ok(())
}

pub async fn last_collection(c: &impl GenericClient) -> PgResult<Option<CollectionRun>> {
    let row = c
        .query_opt(
            "SELECT id, started_ms, ended_ms, manifests, blobs, bytes_freed, error FROM gc_runs
             ORDER BY started_ms DESC, id DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| {
        let ended: Option<i64> = r.get(2);
        let outcome = CollectionOutcome::from_columns(
            r.get::<_, Option<i64>>(3).unwrap_or(0),
            r.get::<_, Option<i64>>(4).unwrap_or(0),
            r.get::<_, Option<i64>>(5).unwrap_or(0),
            r.get(6),
        );
        CollectionRun {
            id: r.get(0),
            started: time(r.get(1)),
            ended: ended.map(|ms| (time(ms), outcome)),
        }
    }))
}

pub async fn revoke_session(c: &impl GenericClient, id: &str, expires_ms: i64, now_ms: i64) -> PgResult<()> {
    c.execute("DELETE FROM ui_revoked_sessions WHERE expires_ms <= $1", &[&now_ms])
        .await?;
    c.execute(
        "INSERT INTO ui_revoked_sessions (id, expires_ms) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET expires_ms = EXCLUDED.expires_ms",
        &[&id, &expires_ms],
    )
    .await?;
    Ok(())
}

pub async fn session_revoked(c: &impl GenericClient, id: &str) -> PgResult<bool> {
    let stmt = c
        .prepare_cached("SELECT 1 FROM ui_revoked_sessions WHERE id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&id]).await?.is_some())
}
