//! The event outbox in SQLite: changes applied with their events in one transaction of
//! the writer, and the per-endpoint cursors the dispatcher leases.
//!
//! `outbox.seq` is an AUTOINCREMENT key: SQLite has one writer, so sequence numbers
//! increase in commit order, and are never reused even after every row was removed (a
//! reused number at or below a cursor would be skipped).

use super::{delete_link_row, delete_tag_row, gc, lifecycle, link_rows, millis, put_manifest_rows, SqliteMetaStore};
use crate::meta::outbox::events_of_removed;
use crate::meta::sqlite::cache::Change as Cached;
use crate::meta::TagFilter;
use crate::meta::{
    Change, Condition, Leased, Limits, ManifestRecord, MetaError, MetaResult, NewEvent, OutboxEvent, Refusal,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wharf_oci::{Digest, Tag};

/// The outbox's tables, made with the others when the database is opened (empty, they
/// cost nothing while events are off).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, kind TEXT NOT NULL,
    repo TEXT NOT NULL, time_ms INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_cursors (
    endpoint TEXT PRIMARY KEY, seq INTEGER NOT NULL, holder TEXT NOT NULL,
    lease_until_ms INTEGER NOT NULL) WITHOUT ROWID;
";

/// A [`Change`] with owned values, to move onto the writer thread.
enum Owned {
    Put {
        repo: String,
        manifest: ManifestRecord,
        tags: Vec<String>,
        references: Vec<String>,
        require_linked: bool,
        fixed: Vec<Tag>,
        limits: Limits,
    },
    DeleteManifest {
        repo: String,
        digest: String,
        fixed: Option<TagFilter>,
    },
    DeleteTag {
        repo: String,
        tag: String,
        /// Only while the tag points at this manifest.
        at: Option<String>,
    },
    Unlink {
        repo: String,
        digest: String,
    },
    Link {
        repo: String,
        digest: String,
        size: u64,
        session: Option<String>,
        limits: Limits,
    },
}

impl Owned {
    fn of(change: &Change<'_>) -> Owned {
        match change {
            Change::PutManifest {
                repo,
                manifest,
                tags,
                references,
                require_linked,
                fixed,
                limits,
            } => Owned::Put {
                repo: repo.to_string(),
                manifest: (*manifest).clone(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                references: references.iter().map(|d| d.to_string()).collect(),
                require_linked: *require_linked,
                fixed: fixed.to_vec(),
                limits: *limits,
            },
            Change::DeleteManifest { repo, digest, fixed } => Owned::DeleteManifest {
                repo: repo.to_string(),
                digest: digest.to_string(),
                fixed: fixed.clone(),
            },
            Change::DeleteTag { repo, tag, at } => Owned::DeleteTag {
                repo: repo.to_string(),
                tag: tag.to_string(),
                at: at.map(|d| d.to_string()),
            },
            Change::UnlinkBlob { repo, digest } => Owned::Unlink {
                repo: repo.to_string(),
                digest: digest.to_string(),
            },
            Change::LinkBlob {
                repo,
                digest,
                size,
                limits,
            } => Owned::Link {
                repo: repo.to_string(),
                digest: digest.to_string(),
                size: *size,
                session: None,
                limits: *limits,
            },
            Change::CompleteUpload {
                id,
                repo,
                digest,
                size,
                limits,
            } => Owned::Link {
                repo: repo.to_string(),
                digest: digest.to_string(),
                size: *size,
                session: Some(id.to_string()),
                limits: *limits,
            },
        }
    }

    fn repo(&self) -> &str {
        match self {
            Owned::Put { repo, .. }
            | Owned::DeleteManifest { repo, .. }
            | Owned::DeleteTag { repo, .. }
            | Owned::Unlink { repo, .. }
            | Owned::Link { repo, .. } => repo,
        }
    }

    /// Applies the change's rows; whether it did something, or why it was refused.
    fn apply(&self, tx: &Connection) -> rusqlite::Result<Result<bool, Refusal>> {
        Ok(match self {
            Owned::Put {
                repo,
                manifest,
                tags,
                references,
                require_linked,
                fixed,
                limits,
            } => {
                let annotations = manifest
                    .annotations
                    .as_ref()
                    .map(|a| serde_json::to_string(a).unwrap_or_default());
                put_manifest_rows(
                    tx,
                    repo,
                    manifest,
                    annotations,
                    tags,
                    references,
                    *require_linked,
                    fixed,
                    *limits,
                )?
                .map(|()| true)
            }
            Owned::DeleteManifest { repo, digest, fixed } => {
                if let Some(fixed) = fixed {
                    if let Some(tag) = lifecycle::guarded_tag(tx, repo, digest, fixed)? {
                        let (Ok(tag), Ok(current)) = (tag.parse::<Tag>(), digest.parse::<Digest>()) else {
                            return Ok(Ok(false));
                        };
                        return Ok(Err(Refusal::TagImmutable { tag, current }));
                    }
                }
                Ok(lifecycle::delete_manifest_rows(tx, repo, digest)?)
            }
            Owned::DeleteTag { repo, tag, at: None } => Ok(delete_tag_row(tx, repo, tag)?),
            Owned::DeleteTag {
                repo,
                tag,
                at: Some(digest),
            } => Ok(tx
                .prepare_cached("DELETE FROM tags WHERE repo = ?1 AND tag = ?2 AND digest = ?3")?
                .execute(params![repo, tag, digest])?
                > 0),
            Owned::Unlink { repo, digest } => Ok(delete_link_row(tx, repo, digest)?),
            Owned::Link {
                repo,
                digest,
                size,
                session,
                limits,
            } => link_rows(tx, repo, digest, *size, session.as_deref(), *limits)?.map(|()| true),
        })
    }

    /// Whether `condition` holds now (before the change).
    fn holds(&self, tx: &Connection, condition: &Condition) -> rusqlite::Result<bool> {
        let repo = self.repo();
        let tag_points_at = |tag: &Tag| -> rusqlite::Result<Option<String>> {
            tx.prepare_cached("SELECT digest FROM tags WHERE repo = ?1 AND tag = ?2")?
                .query_row(params![repo, tag.as_str()], |r| r.get(0))
                .optional()
        };
        Ok(match condition {
            Condition::Always => true,
            Condition::RepositoryIsNew => tx
                .prepare_cached("SELECT 1 FROM repositories WHERE name = ?1")?
                .query_row([repo], |_| Ok(()))
                .optional()?
                .is_none(),
            Condition::TagIsNew(tag) => tag_points_at(tag)?.is_none(),
            Condition::TagMoves(tag) => match (tag_points_at(tag)?, self) {
                (Some(current), Owned::Put { manifest, .. }) => current != manifest.digest.to_string(),
                _ => false,
            },
        })
    }

    /// Drops what the read caches hold of the rows the change touched.
    fn forget_cached(&self, store: &SqliteMetaStore) {
        let cache = &store.inner.cache;
        match self {
            Owned::Put { repo, tags, .. } => cache.forget(Cached::Tagged { repo, tags }),
            Owned::DeleteManifest { repo, digest, .. } => cache.forget(Cached::ManifestDeleted { repo, digest }),
            Owned::DeleteTag { repo, tag, .. } => cache.forget(Cached::Untagged { repo, tag }),
            Owned::Unlink { repo, digest } => cache.forget(Cached::Unlinked { repo, digest }),
            Owned::Link { session, .. } => {
                if let Some(id) = session {
                    store.inner.sessions.forget(id);
                }
            }
        }
    }
}

fn append<'e>(tx: &Connection, events: impl IntoIterator<Item = &'e NewEvent>) -> rusqlite::Result<()> {
    let mut insert =
        tx.prepare_cached("INSERT INTO outbox (id, kind, repo, time_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for e in events {
        insert.execute(params![e.id, e.kind, e.repository, millis(e.time), e.body])?;
    }
    Ok(())
}

/// The collector's removal of unused manifests with the events of those it removed, in
/// one transaction (see [`crate::meta::MetaStore::remove_unused_manifests_with_events`]).
pub(super) fn remove_unused_manifests(
    tx: &Connection,
    items: gc::Items,
    cutoff: SystemTime,
    events: &[Vec<NewEvent>],
) -> rusqlite::Result<gc::Items> {
    let removed = gc::remove_unused_manifests(tx, items.clone(), cutoff)?;
    append(tx, events_of_removed(&items, events, &removed))?;
    Ok(removed)
}

impl SqliteMetaStore {
    pub(super) async fn apply_recorded(&self, change: Change<'_>, events: Vec<NewEvent>) -> MetaResult<bool> {
        let owned = std::sync::Arc::new(Owned::of(&change));
        let change = owned.clone();
        let applied = self
            .write(move |tx| {
                let mut held = Vec::with_capacity(events.len());
                for event in events {
                    if change.holds(tx, &event.condition)? {
                        held.push(event);
                    }
                }
                let applied = change.apply(tx)?;
                if matches!(applied, Ok(true)) {
                    append(tx, &held)?;
                }
                Ok(applied)
            })
            .await;
        owned.forget_cached(self);
        applied?.map_err(MetaError::refused)
    }

    pub(super) async fn append_recorded(&self, events: Vec<NewEvent>) -> MetaResult<()> {
        self.write(move |tx| append(tx, &events)).await
    }

    pub(super) async fn lease_cursor(
        &self,
        endpoint: &str,
        holder: &str,
        lease_until: SystemTime,
        limit: usize,
    ) -> MetaResult<Leased> {
        let (endpoint, holder) = (endpoint.to_string(), holder.to_string());
        let (until, now) = (millis(lease_until), millis(SystemTime::now()));
        self.write_session(move |tx| {
            let cursor: Option<i64> = tx
                .prepare_cached(
                    "INSERT INTO outbox_cursors (endpoint, seq, holder, lease_until_ms) VALUES (?1, 0, ?2, ?3)
                     ON CONFLICT (endpoint) DO UPDATE SET holder = ?2, lease_until_ms = ?3
                     WHERE outbox_cursors.holder = ?2 OR outbox_cursors.lease_until_ms < ?4
                     RETURNING seq",
                )?
                .query_row(params![endpoint, holder, until, now], |r| r.get(0))
                .optional()?;
            let Some(cursor) = cursor else {
                return Ok(Leased::Elsewhere);
            };
            let mut stmt = tx.prepare_cached(
                "SELECT seq, id, kind, repo, time_ms, body FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![cursor, limit as i64], |r| {
                Ok(OutboxEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    repository: r.get(3)?,
                    time: UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(4)?.max(0) as u64),
                    body: r.get(5)?,
                })
            })?;
            Ok(Leased::Held(rows.collect::<rusqlite::Result<Vec<_>>>()?))
        })
        .await
    }

    pub(super) async fn advance_cursor(&self, endpoint: &str, holder: &str, seq: u64) -> MetaResult<bool> {
        let (endpoint, holder) = (endpoint.to_string(), holder.to_string());
        self.write_session(move |tx| {
            Ok(tx
                .prepare_cached("UPDATE outbox_cursors SET seq = max(seq, ?3) WHERE endpoint = ?1 AND holder = ?2")?
                .execute(params![endpoint, holder, seq as i64])?
                > 0)
        })
        .await
    }

    pub(super) async fn prune_outbox(&self, endpoints: &[String]) -> MetaResult<u64> {
        let endpoints = endpoints.to_vec();
        self.write_session(move |tx| {
            let mut lowest: Option<i64> = None;
            let mut cursor = tx.prepare_cached("SELECT seq FROM outbox_cursors WHERE endpoint = ?1")?;
            for endpoint in &endpoints {
                let Some(seq) = cursor.query_row([endpoint], |r| r.get::<_, i64>(0)).optional()? else {
                    return Ok(0);
                };
                lowest = Some(lowest.map_or(seq, |l: i64| l.min(seq)));
            }
            let Some(lowest) = lowest else { return Ok(0) };
            Ok(tx
                .prepare_cached("DELETE FROM outbox WHERE seq <= ?1")?
                .execute([lowest])? as u64)
        })
        .await
    }
}
