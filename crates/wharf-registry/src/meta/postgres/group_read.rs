//! Group reads: the lookups on a pull's hot path (the manifest a tag points at, a
//! manifest by digest, a blob's link) that arrive while others are in flight are
//! answered together, by one query.
//!
//! Under load, a lookup asking PostgreSQL on its own costs a pooled connection, a round
//! trip and a statement's start-up in the server, several times the work of the answer
//! itself; one query answering a whole group (its distinct keys passed as arrays) costs
//! about as much as one of them.
//!
//! **Freshness is that of a query of its own.** A lookup joins the queue before its
//! group's query is sent, and that query reads a snapshot taken when it starts (READ
//! COMMITTED), so it sees every change committed before the lookup was asked for, on
//! this replica or any other: a tag moved through another replica is read at once, a
//! manifest deleted there is not served. Nothing is kept after the answer.
//!
//! **Plans: generic, kept.** A group query's keys come as arrays, whose length
//! PostgreSQL cannot know when it plans a prepared statement for any parameters; its
//! generic plan (a nested loop of primary-key lookups, one per key) is therefore costed
//! well above a plan made for the actual arrays, and by default PostgreSQL plans the
//! statement again on every execution. That planning costs the server about ten times
//! the query itself (~0.25 ms against ~0.02 ms for a group of one). The group reads'
//! connections are opened with `plan_cache_mode = force_generic_plan`
//! ([`with_generic_plans`]), so each statement is planned once per connection; their
//! only statements are the [`Lookup`] queries, whose plans do not depend on the keys.
//!
//! **One group query in flight per kind.** While it runs, the lookups that arrive wait
//! and form the next group, sent as soon as it returns: under load a group holds what
//! arrived during one round trip, and the per-query costs (a pooled connection, a round
//! trip, the server's start-up of a statement, the wake-ups) are paid once per round
//! trip rather than once per few lookups. More queries in flight would answer the same
//! lookups in smaller groups, for more CPU in both processes and no more throughput: a
//! group query carries up to [`MAX_GROUP`] keys. On an idle store a lookup's group is
//! itself alone, sent at once.

use super::{db_err, Pool};
use crate::meta::{MetaError, MetaResult};
use deadpool_postgres::GenericClient;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The connection `options` (PostgreSQL's command-line options sent at start-up) of the
/// group reads' connections: `options`, if any, and keeping each statement's generic
/// plan (see the module documentation).
pub fn with_generic_plans(options: Option<&str>) -> String {
    let keep = "-c plan_cache_mode=force_generic_plan";
    match options {
        Some(given) if !given.trim().is_empty() => format!("{given} {keep}"),
        _ => keep.to_string(),
    }
}

/// Most distinct keys one group query carries.
const MAX_GROUP: usize = 512;

/// One kind of lookup: a (repository, key) pair to at most one answer.
pub trait Lookup: Send + Sync + 'static {
    type Answer: Clone + Send + 'static;
    /// The group query: `$1` and `$2` are the arrays of repositories and keys; each row
    /// is one found answer, its last column the key's 1-based position in the arrays.
    const SQL: &'static str;
    /// The answer in `row` (the columns before the position).
    fn answer(row: &tokio_postgres::Row) -> MetaResult<Self::Answer>;
}

type Reply<A> = oneshot::Sender<Result<Option<A>, Arc<MetaError>>>;

struct Waiter<A> {
    repo: String,
    key: String,
    reply: Reply<A>,
}

struct Queue<A> {
    waiting: Vec<Waiter<A>>,
    /// Whether a runner is sending groups.
    running: bool,
}

/// The queue of one kind of lookup and its group queries; see the module documentation.
pub struct GroupRead<L: Lookup> {
    pool: Pool,
    queue: Mutex<Queue<L::Answer>>,
    kind: PhantomData<L>,
}

impl<L: Lookup> GroupRead<L> {
    pub fn new(pool: Pool) -> Arc<GroupRead<L>> {
        Arc::new(GroupRead {
            pool,
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                running: false,
            }),
            kind: PhantomData,
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue<L::Answer>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer for `key` in `repo`, read by a query sent after this call began.
    pub async fn get(self: &Arc<Self>, repo: &str, key: &str) -> MetaResult<Option<L::Answer>> {
        let (reply, answer) = oneshot::channel();
        let start_runner = {
            let mut queue = self.queue();
            queue.waiting.push(Waiter {
                repo: repo.to_string(),
                key: key.to_string(),
                reply,
            });
            // The runner in flight, if any, takes this lookup in its next group.
            let start = !queue.running;
            queue.running = true;
            start
        };
        if start_runner {
            // A task of its own, so that a caller who gives up (a client gone) never
            // leaves the others of its group without their answers.
            tokio::spawn(self.clone().run());
        }
        match answer.await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(MetaError::new(e)),
            Err(_) => Err(db_err("a group lookup ended without an answer")),
        }
    }

    /// Sends groups until the queue is empty.
    async fn run(self: Arc<Self>) {
        let mut running = Running {
            read: &self,
            ended: false,
        };
        loop {
            let group: Vec<Waiter<L::Answer>> = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
                    // Under the lock a lookup takes to decide whether to start a runner:
                    // one that queues after this starts the next.
                    queue.running = false;
                    running.ended = true;
                    return;
                }
                let n = queue.waiting.len().min(MAX_GROUP);
                queue.waiting.drain(..n).collect()
            };
            // Distinct keys only: under load most lookups ask for the same few tags.
            let mut position: HashMap<(&str, &str), usize> = HashMap::new();
            let (mut repos, mut keys) = (Vec::new(), Vec::new());
            let slots: Vec<usize> = group
                .iter()
                .map(|w| {
                    *position.entry((&w.repo, &w.key)).or_insert_with(|| {
                        repos.push(w.repo.as_str());
                        keys.push(w.key.as_str());
                        repos.len() - 1
                    })
                })
                .collect();
            match self.query(&repos, &keys).await {
                Ok(answers) => {
                    for (waiter, slot) in group.into_iter().zip(slots) {
                        let _ = waiter.reply.send(Ok(answers[slot].clone()));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for waiter in group {
                        let _ = waiter.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    async fn query(&self, repos: &[&str], keys: &[&str]) -> MetaResult<Vec<Option<L::Answer>>> {
        let client = self.pool.get().await.map_err(db_err)?;
        let stmt = client.prepare_cached(L::SQL).await.map_err(db_err)?;
        let rows = client.query(&stmt, &[&repos, &keys]).await.map_err(db_err)?;
        let mut answers = vec![None; keys.len()];
        for row in &rows {
            let at: i64 = row.try_get(row.len() - 1).map_err(db_err)?;
            let slot = answers
                .get_mut((at as usize).wrapping_sub(1))
                .ok_or_else(|| db_err(format!("a group lookup answered position {at} of {}", keys.len())))?;
            *slot = Some(L::answer(row)?);
        }
        Ok(answers)
    }
}

/// Counts a runner out when it ends by a panic (or its task is dropped), so that the next
/// lookup starts another rather than waiting for one that is gone.
struct Running<'a, L: Lookup> {
    read: &'a GroupRead<L>,
    /// Counted out already, by the runner itself as it found the queue empty.
    ended: bool,
}

impl<L: Lookup> Drop for Running<'_, L> {
    fn drop(&mut self) {
        if !self.ended {
            self.read.queue().running = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PostgresConfig, PostgresMetaStore};
    use crate::meta::{ManifestRecord, MetaStore};
    use wharf_oci::{Digest, RepositoryName, Tag};

    /// Each lookup after a connection's first runs the plan that connection kept: none
    /// is planned again for its keys (which costs the server ten times the query).
    #[tokio::test]
    async fn group_reads_keep_their_generic_plans() {
        let url = tokio::task::spawn_blocking(wharf_testkit::Postgres::fresh_database)
            .await
            .unwrap();
        let store = PostgresMetaStore::connect(&PostgresConfig::new(url)).await.unwrap();
        let (repo, tag): (RepositoryName, Tag) = ("app".parse().unwrap(), "latest".parse().unwrap());
        let record = ManifestRecord {
            digest: Digest::sha256_of(b"a manifest"),
            media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
            size: 10,
            artifact_type: None,
            subject: None,
            annotations: None,
        };
        store.claim_blob(&record.digest, record.size).await.unwrap();
        store
            .put_manifest(&repo, &record, std::slice::from_ref(&tag), &[], false)
            .await
            .unwrap();
        let lookups = 20;
        for _ in 0..lookups {
            assert_eq!(store.tagged_manifest(&repo, &tag).await.unwrap(), Some(record.clone()));
        }

        // Every read connection at once (prepared statements are its session's), and
        // the plans each made for the lookup by tag.
        let pool = &store.tags.pool;
        let mut held = Vec::new();
        for _ in 0..pool.status().max_size {
            held.push(pool.get().await.unwrap());
        }
        let (mut generic, mut custom) = (0, 0);
        for client in &held {
            let row = client
                .query_one(
                    "SELECT coalesce(sum(generic_plans), 0)::bigint, coalesce(sum(custom_plans), 0)::bigint
                     FROM pg_prepared_statements WHERE statement = $1",
                    &[&<super::super::manifests::ByTag as super::Lookup>::SQL],
                )
                .await
                .unwrap();
            generic += row.get::<_, i64>(0);
            custom += row.get::<_, i64>(1);
        }
        assert_eq!((generic, custom), (lookups, 0), "(generic plans, custom plans)");
    }
}
