//! Metadata in PostgreSQL, shared by several `wharf serve` replicas.
//!
//! The tables are those of the SQLite store (repositories, the blob fence `blobs`,
//! `links`, `manifests`, `manifest_refs`, `tags`, `uploads`), created and upgraded at
//! start by versioned migrations (see [`schema`]). Text keys use the "C" collation, so
//! listings come back in byte order straight from their primary-key index, and a page
//! costs an index range scan of its own length (see [`listing`]).
//!
//! **Each trait call is one transaction** at READ COMMITTED, retried from the start
//! when PostgreSQL aborts it for a serialization failure or a deadlock.
//!
//! **How the fence holds across replicas: row locks, not SERIALIZABLE.** The race to
//! close is a push linking a blob (or a manifest requiring a link) while a collection on
//! another replica decides that nothing uses it. Each side locks the row it depends on
//! before it decides:
//! - the push path takes `FOR SHARE` on the rows it relies on — the blob's fence row in
//!   `link_blob`, `complete_upload` and `put_manifest` (its own bytes), and the `links`
//!   rows of a manifest's references in `put_manifest` — and upserts (which lock) the
//!   rows it writes;
//! - each collector call first takes `FOR UPDATE` on the row it may remove or mark, in
//!   a statement of its own, and only then re-checks its condition in the next
//!   statement. At READ COMMITTED every statement reads a fresh snapshot, so that check
//!   sees whatever a push that held the row committed; and a push that comes later
//!   waits for the collector's lock and then finds the row gone or marked deleting, and
//!   is refused ([`super::Refusal`]), never acknowledged.
//!
//! SERIALIZABLE would close the same race, but it aborts whole transactions on
//! conflicts PostgreSQL only suspects (predicate locks on index pages), so busy pushes of
//! unrelated blobs would retry each other; the locks here only ever make a push wait for
//! the one row a collector is deciding about, and only for that decision.
//!
//! Nothing is cached in this process: another replica may move a tag or delete a
//! manifest at any moment, so every lookup asks the database (the registry itself keeps
//! only digest-addressed content in memory). The pull path's lookups that arrive together
//! share one query, sent after each of them was asked ([`group_read`]), so they are as
//! fresh as a query of their own.

use super::{
    BlobClaim, Change, CollectionOutcome, CollectionRun, GcSnapshot, LeaseAttempt, LeaseRenewal, Leased, Limits,
    ManifestRecord, MetaError, MetaResult, MetaStore, NewEvent, Page, Pull, Refusal, TagCursor, TagDetail, TagFilter,
    TagOrder, UploadSession,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use group_read::GroupRead;
pub use login_limits::PostgresLoginLimits;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use wharf_oci::{Digest, RepositoryName, Tag};

mod fence;
mod gc;
mod group_read;
mod lifecycle;
mod listing;
mod login_limits;
mod manifests;
mod outbox;
mod schema;
mod ui_state;
mod uploads;

/// How often a transaction is run again after PostgreSQL aborted it for a serialization
/// failure or a deadlock, before the error is the caller's.
const RETRIES: usize = 8;

/// How a [`PostgresMetaStore`] connects.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` or a key=value connection string;
    /// `host` may be a directory holding the server's unix socket.
    pub url: String,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// How long to wait for a connection (from the pool, or a new one) before failing.
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`MetaStore`] in a PostgreSQL database, which any number of replicas may share.
pub struct PostgresMetaStore {
    pool: Pool,
    /// The pull path's lookups, each kind answered in groups (see [`group_read`]).
    tags: Arc<GroupRead<manifests::ByTag>>,
    manifests: Arc<GroupRead<manifests::ByDigest>>,
    links: Arc<GroupRead<fence::Linked>>,
}

type Client = deadpool_postgres::Object;
type Transaction<'a> = deadpool_postgres::Transaction<'a>;
type PgResult<T> = Result<T, tokio_postgres::Error>;

fn db_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> MetaError {
    MetaError::new(e)
}

/// Whether PostgreSQL aborted the transaction for a conflict that running it again
/// resolves.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Runs `$body` (an expression of type `PgResult<T>` that may use `$tx`, a transaction
/// on a pooled connection) and commits it; runs it again from the start, on a new
/// transaction, when PostgreSQL aborted it for a conflict (see [`retryable`]).
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = $store.client().await?;
            let $tx = client.transaction().await.map_err(db_err)?;
            let outcome: PgResult<_> = async { $body }.await;
            let outcome = match outcome {
                Ok(value) => $tx.commit().await.map(|()| value),
                Err(e) => Err(e),
            };
            match outcome {
                Err(e) if retryable(&e) && attempt < RETRIES => {
                    tokio::time::sleep(Duration::from_millis(2 * attempt as u64)).await;
                }
                other => break other.map_err(db_err),
            }
        }
    }};
}

impl PostgresMetaStore {
    /// Connects to the database `config.url` names and brings its tables up to this
    /// build's version (several replicas starting at once take turns, see [`schema`]).
    pub async fn connect(config: &PostgresConfig) -> MetaResult<PostgresMetaStore> {
        let pg = connection_config(config)?;
        // The group reads have connections of their own, opened to keep each statement's
        // generic plan (see `group_read`): one per kind at most, a quarter of the pool
        // at most; the rest serve everything else. Both together stay within
        // `pool_size` (two at least).
        let reads = (config.pool_size / 4).clamp(1, 3);
        let others = config.pool_size.saturating_sub(reads).max(1);
        let mut read_pg = pg.clone();
        read_pg.options(group_read::with_generic_plans(read_pg.get_options()));
        let pool = build_pool(pg, others, config.connect_timeout)?;
        let read_pool = build_pool(read_pg, reads, config.connect_timeout)?;
        let store = PostgresMetaStore {
            tags: GroupRead::new(read_pool.clone()),
            manifests: GroupRead::new(read_pool.clone()),
            links: GroupRead::new(read_pool),
            pool,
        };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await.map_err(db_err)?;
        outbox::create_tables(&mut client).await.map_err(db_err)?;
        Ok(store)
    }

    async fn client(&self) -> MetaResult<Client> {
        self.pool.get().await.map_err(db_err)
    }
}

/// The connection settings of the database `config.url` names, with wharf's defaults
/// for what the URL leaves out.
fn connection_config(config: &PostgresConfig) -> MetaResult<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = config.url.parse().map_err(|e| db_err(format!("PostgreSQL URL: {e}")))?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(config.connect_timeout);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("wharf");
    }
    Ok(pg)
}

/// A pool of at most `config.pool_size` connections to the database `config.url` names.
fn pool(config: &PostgresConfig) -> MetaResult<Pool> {
    build_pool(
        connection_config(config)?,
        config.pool_size.max(1),
        config.connect_timeout,
    )
}

/// A pool of at most `size` connections to `pg`.
fn build_pool(pg: tokio_postgres::Config, size: usize, timeout: Duration) -> MetaResult<Pool> {
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(db_err)
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A refusal inside a transaction's answer, as the store's error.
fn refused<T>(answer: MetaResult<Result<T, Refusal>>) -> MetaResult<T> {
    answer?.map_err(MetaError::refused)
}

/// A text column wharf itself wrote, parsed; a value that no longer parses is an error
/// rather than trusted.
fn parsed<T: std::str::FromStr>(row: &tokio_postgres::Row, idx: usize) -> MetaResult<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: &str = row.try_get(idx).map_err(db_err)?;
    text.parse().map_err(db_err)
}

fn strings(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(|d| d.to_string()).collect()
}

#[async_trait]
impl MetaStore for PostgresMetaStore {
    async fn claim_blob(&self, digest: &Digest, size: u64) -> MetaResult<BlobClaim> {
        let digest = digest.to_string();
        in_transaction!(self, |tx| fence::claim(&tx, &digest, size, millis(SystemTime::now()))
            .await)
    }

    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.link_blob_within(repo, digest, size, Limits::NONE).await
    }

    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<u64>> {
        self.links.get(repo.as_str(), &digest.to_string()).await
    }

    async fn linked_blobs(&self, repo: &RepositoryName, digests: &[Digest]) -> MetaResult<HashMap<Digest, u64>> {
        let rows = fence::linked_many(&self.client().await?, repo.as_str(), &strings(digests))
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| Ok((parsed(row, 0)?, row.get::<_, i64>(1) as u64)))
            .collect()
    }

    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        fence::unlink(&self.client().await?, repo.as_str(), &digest.to_string())
            .await
            .map_err(db_err)
    }

    async fn known_blob(&self, digest: &Digest) -> MetaResult<Option<u64>> {
        fence::known(&self.client().await?, &digest.to_string())
            .await
            .map_err(db_err)
    }

    async fn blob_is_linked_anywhere(&self, digest: &Digest) -> MetaResult<bool> {
        Ok(self.known_blob(digest).await?.is_some())
    }

    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
    ) -> MetaResult<()> {
        self.put_manifest_within(repo, manifest, tags, references, require_linked, &[], Limits::NONE)
            .await
    }

    async fn manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<ManifestRecord>> {
        self.manifests.get(repo.as_str(), &digest.to_string()).await
    }

    async fn tagged_manifest(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<Option<ManifestRecord>> {
        self.tags.get(repo.as_str(), tag.as_str()).await
    }

    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        let digest = digest.to_string();
        in_transaction!(self, |tx| manifests::delete(&tx, repo.as_str(), &digest).await)
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        manifests::delete_tag(&self.client().await?, repo.as_str(), tag.as_str())
            .await
            .map_err(db_err)
    }

    async fn list_tags(&self, repo: &RepositoryName, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        listing::tags(&self.client().await?, repo.as_str(), after, limit)
            .await
            .map_err(db_err)
    }

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        listing::repository_exists(&self.client().await?, repo.as_str())
            .await
            .map_err(db_err)
    }

    async fn list_repositories(&self, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        listing::repositories(&self.client().await?, after, limit)
            .await
            .map_err(db_err)
    }

    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> MetaResult<Vec<ManifestRecord>> {
        manifests::referrers(
            &self.client().await?,
            repo.as_str(),
            &subject.to_string(),
            artifact_type,
        )
        .await
    }

    async fn create_upload(&self, session: &UploadSession) -> MetaResult<()> {
        uploads::create(&self.client().await?, session).await.map_err(db_err)
    }

    async fn upload(&self, id: &str) -> MetaResult<Option<UploadSession>> {
        uploads::get(&self.client().await?, id).await
    }

    async fn advance_upload(&self, session: &UploadSession, expected_offset: u64) -> MetaResult<bool> {
        uploads::advance(&self.client().await?, session, expected_offset)
            .await
            .map_err(db_err)
    }

    async fn delete_upload(&self, id: &str) -> MetaResult<bool> {
        uploads::delete(&self.client().await?, id).await.map_err(db_err)
    }

    async fn take_upload_lease(&self, id: &str, holder: &str, ttl: Duration) -> MetaResult<LeaseAttempt> {
        let taken = uploads::take_lease(&self.client().await?, id, holder, ttl.as_millis() as i64)
            .await
            .map_err(db_err)?;
        Ok(match taken {
            Some(false) => LeaseAttempt::Busy,
            Some(true) | None => LeaseAttempt::Taken,
        })
    }

    async fn renew_upload_lease(&self, id: &str, holder: &str, ttl: Duration) -> MetaResult<LeaseRenewal> {
        let renewed = uploads::renew_lease(&self.client().await?, id, holder, ttl.as_millis() as i64)
            .await
            .map_err(db_err)?;
        Ok(match renewed {
            Some(wanted) => LeaseRenewal::Kept { wanted },
            None => LeaseRenewal::Lost,
        })
    }

    async fn release_upload_lease(&self, id: &str, holder: &str) -> MetaResult<()> {
        uploads::release_lease(&self.client().await?, id, holder)
            .await
            .map_err(db_err)
    }

    async fn advance_leased_upload(
        &self,
        session: &UploadSession,
        expected_offset: u64,
        holder: Option<&str>,
    ) -> MetaResult<bool> {
        uploads::advance_leased(&self.client().await?, session, expected_offset, holder)
            .await
            .map_err(db_err)
    }

    async fn complete_upload(&self, id: &str, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.complete_upload_within(id, repo, digest, size, Limits::NONE).await
    }

    async fn idle_uploads(&self, cutoff: SystemTime) -> MetaResult<Vec<String>> {
        uploads::idle(&self.client().await?, millis(cutoff))
            .await
            .map_err(db_err)
    }

    async fn gc_snapshot(&self) -> MetaResult<GcSnapshot> {
        let mut client = self.client().await?;
        gc::snapshot(&mut client).await
    }

    async fn record_references(
        &self,
        repo: &RepositoryName,
        manifest: &Digest,
        references: &[Digest],
    ) -> MetaResult<()> {
        let (manifest, references) = (manifest.to_string(), strings(references));
        in_transaction!(self, |tx| manifests::record_references(
            &tx,
            repo.as_str(),
            &manifest,
            &references
        )
        .await)
    }

    async fn remove_unused_manifests(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        in_transaction!(self, |tx| gc::remove_unused_manifests(&tx, manifests, millis(cutoff))
            .await)
    }

    async fn remove_unused_manifests_with_events(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
        events: Vec<Vec<NewEvent>>,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        in_transaction!(self, |tx| outbox::remove_unused_manifests(
            &tx,
            manifests,
            millis(cutoff),
            &events
        )
        .await)
    }

    async fn remove_unused_links(
        &self,
        links: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        in_transaction!(self, |tx| gc::remove_unused_links(&tx, links, millis(cutoff)).await)
    }

    async fn mark_blobs_deleting(&self, digests: &[Digest], cutoff: SystemTime) -> MetaResult<Vec<Digest>> {
        in_transaction!(self, |tx| gc::mark_deleting(&tx, digests, millis(cutoff)).await)
    }

    async fn fence_stray_blobs(&self, blobs: &[(Digest, u64)]) -> MetaResult<Vec<Digest>> {
        let now = millis(SystemTime::now());
        in_transaction!(self, |tx| gc::fence_stray(&tx, blobs, now).await)
    }

    async fn forget_deleted_blobs(&self, digests: &[Digest]) -> MetaResult<()> {
        in_transaction!(self, |tx| gc::forget_deleted(&tx, digests).await)
    }

    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        if pulls.is_empty() {
            return Ok(());
        }
        in_transaction!(self, |tx| gc::record_pulls(&tx, pulls).await)
    }

    async fn apply_with_events(&self, change: Change<'_>, events: Vec<NewEvent>) -> MetaResult<bool> {
        refused(in_transaction!(self, |tx| outbox::apply(&tx, &change, &events).await))
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> MetaResult<()> {
        let events: Vec<&NewEvent> = events.iter().collect();
        in_transaction!(self, |tx| outbox::append(&tx, &events).await)
    }

    async fn outbox_lease(
        &self,
        endpoint: &str,
        holder: &str,
        lease_until: SystemTime,
        limit: usize,
    ) -> MetaResult<Leased> {
        in_transaction!(self, |tx| outbox::lease(&tx, endpoint, holder, lease_until, limit)
            .await)
    }

    async fn outbox_advance(&self, endpoint: &str, holder: &str, seq: u64) -> MetaResult<bool> {
        outbox::advance(&self.client().await?, endpoint, holder, seq)
            .await
            .map_err(db_err)
    }

    async fn outbox_prune(&self, endpoints: &[String]) -> MetaResult<u64> {
        in_transaction!(self, |tx| outbox::prune(&tx, endpoints).await)
    }

    // Storage lifecycle: each call one transaction, its check behind a lock the racing
    // change also takes (see [`lifecycle`]).

    async fn put_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
    ) -> MetaResult<()> {
        self.put_manifest_within(repo, manifest, tags, references, require_linked, fixed, Limits::NONE)
            .await
    }

    async fn put_manifest_within(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
        fixed: &[Tag],
        limits: Limits,
    ) -> MetaResult<()> {
        let put = manifests::Put {
            repo: repo.as_str(),
            manifest,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            references: strings(references),
            require_linked,
        };
        let digest = manifest.digest.to_string();
        refused(in_transaction!(self, |tx| {
            if let Err(refusal) = lifecycle::guard_fixed_tags(&tx, put.repo, &digest, fixed).await? {
                return Ok(Err(refusal));
            }
            if let Err(refusal) = lifecycle::admit(&tx, put.repo, &digest, manifest.size, limits).await? {
                return Ok(Err(refusal));
            }
            put.run(&tx).await
        }))
    }

    async fn delete_manifest_fixed_tags(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        fixed: TagFilter,
    ) -> MetaResult<bool> {
        let (repo, digest_text) = (repo.as_str(), digest.to_string());
        let deleted = in_transaction!(self, |tx| {
            if let Some(tag) = lifecycle::guarded_tag(&tx, repo, &digest_text, &fixed).await? {
                return Ok(Err(tag));
            }
            manifests::delete(&tx, repo, &digest_text).await.map(Ok)
        })?;
        deleted.or_else(|tag| {
            let tag: Tag = tag.parse().map_err(MetaError::new)?;
            Err(MetaError::refused(Refusal::TagImmutable {
                tag,
                current: digest.clone(),
            }))
        })
    }

    async fn delete_tag_at(&self, repo: &RepositoryName, tag: &Tag, digest: &Digest) -> MetaResult<bool> {
        lifecycle::delete_tag_at(&self.client().await?, repo.as_str(), tag.as_str(), &digest.to_string())
            .await
            .map_err(db_err)
    }

    async fn repository_usage(&self, repo: &RepositoryName) -> MetaResult<u64> {
        lifecycle::repository_usage(&self.client().await?, repo.as_str())
            .await
            .map_err(db_err)
    }

    async fn total_usage(&self) -> MetaResult<u64> {
        lifecycle::total_usage(&self.client().await?).await.map_err(db_err)
    }

    async fn link_blob_within(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        let (repo, digest) = (repo.as_str(), digest.to_string());
        refused(in_transaction!(self, |tx| {
            if let Err(refusal) = lifecycle::admit(&tx, repo, &digest, size, limits).await? {
                return Ok(Err(refusal));
            }
            fence::link(&tx, repo, &digest, size).await
        }))
    }

    async fn complete_upload_within(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        limits: Limits,
    ) -> MetaResult<()> {
        let digest = digest.to_string();
        refused(in_transaction!(self, |tx| {
            if let Err(refusal) = lifecycle::admit(&tx, repo.as_str(), &digest, size, limits).await? {
                return Ok(Err(refusal));
            }
            let linked = fence::link(&tx, repo.as_str(), &digest, size).await?;
            uploads::delete(&tx, id).await?;
            Ok(linked)
        }))
    }

    async fn tag_details(&self, repo: &RepositoryName) -> MetaResult<Vec<TagDetail>> {
        ui_state::tag_page(&self.client().await?, repo.as_str(), TagOrder::Name, None, usize::MAX).await
    }

    async fn tag_page(
        &self,
        repo: &RepositoryName,
        order: TagOrder,
        after: Option<&TagCursor>,
        limit: usize,
    ) -> MetaResult<Vec<TagDetail>> {
        ui_state::tag_page(&self.client().await?, repo.as_str(), order, after, limit).await
    }

    async fn collection_started(&self, id: &str, started: SystemTime) -> MetaResult<()> {
        in_transaction!(self, |tx| ui_state::collection_started(&tx, id, millis(started)).await)
    }

    async fn collection_ended(&self, id: &str, ended: SystemTime, outcome: &CollectionOutcome) -> MetaResult<()> {
        ui_state::collection_ended(&self.client().await?, id, millis(ended), outcome)
            .await
            .map_err(db_err)
    }

    async fn last_collection(&self) -> MetaResult<Option<CollectionRun>> {
        ui_state::last_collection(&self.client().await?).await.map_err(db_err)
    }

    async fn revoke_session(&self, id: &str, expires: SystemTime) -> MetaResult<()> {
        let now = millis(SystemTime::now());
        in_transaction!(self, |tx| ui_state::revoke_session(&tx, id, millis(expires), now).await)
    }

    async fn session_revoked(&self, id: &str) -> MetaResult<bool> {
        ui_state::session_revoked(&self.client().await?, id)
            .await
            .map_err(db_err)
    }
}
