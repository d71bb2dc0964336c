//! The event outbox in PostgreSQL, shared by every replica.
//!
//! **Order.** `outbox.seq` comes from a sequence, and a sequence hands out numbers in
//! the order transactions ask, not the order they commit: a dispatcher could read 11,
//! move its cursor past it, and only then see 10 commit. So a transaction that appends
//! events first takes a transaction-scoped advisory lock ([`APPEND_LOCK`]) as its last
//! step before commit: appends commit one at a time, in the order of their numbers.
//! Only transactions with events take it.
//!
//! **Conditions.** "The repository is new" and "the tag is new / moves" are judged
//! under a per-repository advisory lock, so that of two first pushes to a repository
//! exactly one announces it.
//!
//! **Replicas.** Each endpoint's cursor row carries a lease (holder, until): a
//! dispatcher takes it only when it is free or its own, so one replica delivers to an
//! endpoint at a time, and another takes over within a lease's length when it stops.

use super::{fence, lifecycle, manifests, uploads, PgResult, Transaction};
use crate::meta::{Change, Condition, Leased, NewEvent, OutboxEvent, Refusal};
use deadpool_postgres::GenericClient;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wharf_oci::{Digest, Tag};

/// Taken by every append, to the commit ("wharf-ev" in ASCII).
const APPEND_LOCK: i64 = 0x7768_6172_662d_6576;
/// Taken while the outbox's tables are made (the migration lock's key).
const TABLES_LOCK: i64 = 0x0077_6861_7266;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS outbox (
    seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL,
    repo TEXT COLLATE "C" NOT NULL, time_ms BIGINT NOT NULL, body BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_cursors (
    endpoint TEXT PRIMARY KEY, seq BIGINT NOT NULL, holder TEXT NOT NULL, lease_until_ms BIGINT NOT NULL);
"#;

/// Makes the outbox's tables if they are missing (replicas starting together take
/// turns).
pub async fn create_tables(client: &mut deadpool_postgres::Object) -> PgResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&TABLES_LOCK]).await?;
    tx.batch_execute(TABLES).await?;
    tx.commit().await
}

/// Applies `change` and appends those of `events` whose condition held before it, if
/// it did something.
pub async fn apply(tx: &Transaction<'_>, change: &Change<'_>, events: &[NewEvent]) -> PgResult<Result<bool, Refusal>> {
    let repo = change.repository().as_str();
    if events.iter().any(|e| e.condition != Condition::Always) {
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&repo])
            .await?;
    }
    let mut held = Vec::new();
    for event in events {
        if holds(tx, change, &event.condition).await? {
            held.push(event);
        }
    }
    let applied = apply_change(tx, change).await?;
    if matches!(applied, Ok(true)) && !held.is_empty() {
        append(tx, &held).await?;
    }
    Ok(applied)
}

async fn holds(tx: &Transaction<'_>, change: &Change<'_>, condition: &Condition) -> PgResult<bool> {
    let repo = change.repository().as_str();
    let tag_points_at = |tag: &Tag| {
        let tag = tag.to_string();
        async move {
            let row = tx
                .query_opt("SELECT digest FROM tags WHERE repo = $1 AND tag = $2", &[&repo, &tag])
                .await?;
            PgResult::Ok(row.map(|r| r.get::<_, String>(0)))
        }
    };
    Ok(match condition {
        Condition::Always => true,
        Condition::RepositoryIsNew => tx
            .query_opt("SELECT 1 FROM repositories WHERE name = $1", &[&repo])
            .await?
            .is_none(),
        Condition::TagIsNew(tag) => tag_points_at(tag).await?.is_none(),
        Condition::TagMoves(tag) => match (tag_points_at(tag).await?, change.pushed_digest()) {
            (Some(current), Some(pushed)) => current != pushed.to_string(),
            _ => false,
        },
    })
}

async fn apply_change(tx: &Transaction<'_>, change: &Change<'_>) -> PgResult<Result<bool, Refusal>> {
    Ok(match change {
        Change::PutManifest {
            repo,
            manifest,
            tags,
            references,
            require_linked,
            fixed,
            limits,
        } => {
            let digest = manifest.digest.to_string();
            if let Err(refusal) = lifecycle::guard_fixed_tags(tx, repo.as_str(), &digest, fixed).await? {
                return Ok(Err(refusal));
            }
            if let Err(refusal) = lifecycle::admit(tx, repo.as_str(), &digest, manifest.size, *limits).await? {
                return Ok(Err(refusal));
            }
            let put = manifests::Put {
                repo: repo.as_str(),
                manifest,
                tags: tags.iter().map(|t| t.to_string()).collect(),
                references: references.iter().map(|d| d.to_string()).collect(),
                require_linked: *require_linked,
            };
            put.run(tx).await?.map(|()| true)
        }
        Change::DeleteManifest { repo, digest, fixed } => {
            let (repo, digest_text) = (repo.as_str(), digest.to_string());
            if let Some(fixed) = fixed {
                if let Some(tag) = lifecycle::guarded_tag(tx, repo, &digest_text, fixed).await? {
                    // A tag wharf wrote always parses; were it not to, nothing is deleted.
                    let Ok(tag) = tag.parse::<Tag>() else {
                        return Ok(Ok(false));
                    };
                    return Ok(Err(Refusal::TagImmutable {
                        tag,
                        current: (*digest).clone(),
                    }));
                }
            }
            Ok(manifests::delete(tx, repo, &digest_text).await?)
        }
        Change::DeleteTag { repo, tag, at: None } => Ok(manifests::delete_tag(tx, repo.as_str(), tag.as_str()).await?),
        Change::DeleteTag {
            repo,
            tag,
            at: Some(digest),
        } => Ok(lifecycle::delete_tag_at(tx, repo.as_str(), tag.as_str(), &digest.to_string()).await?),
        Change::UnlinkBlob { repo, digest } => Ok(fence::unlink(tx, repo.as_str(), &digest.to_string()).await?),
        Change::LinkBlob {
            repo,
            digest,
            size,
            limits,
        } => {
            let digest = digest.to_string();
            if let Err(refusal) = lifecycle::admit(tx, repo.as_str(), &digest, *size, *limits).await? {
                return Ok(Err(refusal));
            }
            fence::link(tx, repo.as_str(), &digest, *size).await?.map(|()| true)
        }
        Change::CompleteUpload {
            id,
            repo,
            digest,
            size,
            limits,
        } => {
            let digest = digest.to_string();
            if let Err(refusal) = lifecycle::admit(tx, repo.as_str(), &digest, *size, *limits).await? {
                return Ok(Err(refusal));
            }
            let linked = fence::link(tx, repo.as_str(), &digest, *size).await?;
            uploads::delete(tx, id).await?;
            linked.map(|()| true)
        }
    })
}

/// Appends `events`, after taking [`APPEND_LOCK`] (see the module's doc).
/// The collector's removal of unused manifests with the events of those it removed, in
/// `tx` (see [`crate::meta::MetaStore::remove_unused_manifests_with_events`]).
pub async fn remove_unused_manifests(
    tx: &Transaction<'_>,
    items: &[(wharf_oci::RepositoryName, Digest)],
    cutoff_ms: i64,
    events: &[Vec<NewEvent>],
) -> PgResult<super::gc::Items> {
    let removed = super::gc::remove_unused_manifests(tx, items, cutoff_ms).await?;
    let held = crate::meta::outbox::events_of_removed(items, events, &removed);
    if !held.is_empty() {
        append(tx, &held).await?;
    }
    Ok(removed)
}

pub async fn append(tx: &Transaction<'_>, events: &[&NewEvent]) -> PgResult<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK]).await?;
    let insert = tx
        .prepare_cached("INSERT INTO outbox (id, kind, repo, time_ms, body) VALUES ($1, $2, $3, $4, $5)")
        .await?;
    for e in events {
        tx.execute(
            &insert,
            &[&e.id, &e.kind, &e.repository, &super::millis(e.time), &e.body],
        )
        .await?;
    }
    Ok(())
}

pub async fn lease(
    tx: &Transaction<'_>,
    endpoint: &str,
    holder: &str,
    until: SystemTime,
    limit: usize,
) -> PgResult<Leased> {
    let (until, now) = (super::millis(until), super::millis(SystemTime::now()));
    let cursor = tx
        .query_opt(
            "INSERT INTO outbox_cursors (endpoint, seq, holder, lease_until_ms) VALUES ($1, 0, $2, $3)
             ON CONFLICT (endpoint) DO UPDATE SET holder = $2, lease_until_ms = $3
             WHERE outbox_cursors.holder = $2 OR outbox_cursors.lease_until_ms < $4
             RETURNING seq",
            &[&endpoint, &holder, &until, &now],
        )
        .await?;
    let Some(cursor) = cursor.map(|r| r.get::<_, i64>(0)) else {
        return Ok(Leased::Elsewhere);
    };
    let rows = tx
        .query(
            "SELECT seq, id, kind, repo, time_ms, body FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&cursor, &(limit as i64)],
        )
        .await?;
    Ok(Leased::Held(
        rows.iter()
            .map(|r| OutboxEvent {
                seq: r.get::<_, i64>(0) as u64,
                id: r.get(1),
                kind: r.get(2),
                repository: r.get(3),
                time: UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(4).max(0) as u64),
                body: r.get(5),
            })
            .collect(),
    ))
}

pub async fn advance(c: &impl GenericClient, endpoint: &str, holder: &str, seq: u64) -> PgResult<bool> {
    Ok(c.execute(
        "UPDATE outbox_cursors SET seq = GREATEST(seq, $3) WHERE endpoint = $1 AND holder = $2",
        &[&endpoint, &holder, &(seq as i64)],
    )
    .await?
        > 0)
}

pub async fn prune(tx: &Transaction<'_>, endpoints: &[String]) -> PgResult<u64> {
    let row = tx
        .query_one(
            "SELECT count(*), min(seq) FROM outbox_cursors WHERE endpoint = ANY($1)",
            &[&endpoints],
        )
        .await?;
    let (count, lowest): (i64, Option<i64>) = (row.get(0), row.get(1));
    match lowest {
        Some(lowest) if count as usize == endpoints.len() => {
            tx.execute("DELETE FROM outbox WHERE seq <= $1", &[&lowest]).await
        }
        _ => Ok(0),
    }
}
