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
//! At most `in_flight` group queries run at once; a lookup that arrives while all are
//! busy waits for the next group. On an idle store a lookup's group is itself alone,
//! sent at once.

use super::{db_err, Pool};
use crate::meta::{MetaError, MetaResult};
use deadpool_postgres::GenericClient;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

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
    running: usize,
}

/// The queue of one kind of lookup and its group queries; see the module documentation.
pub struct GroupRead<L: Lookup> {
    pool: Pool,
    in_flight: usize,
    queue: Mutex<Queue<L::Answer>>,
    kind: PhantomData<L>,
}

impl<L: Lookup> GroupRead<L> {
    pub fn new(pool: Pool, in_flight: usize) -> Arc<GroupRead<L>> {
        Arc::new(GroupRead {
            pool,
            in_flight: in_flight.max(1),
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                running: 0,
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
            let start = queue.running < self.in_flight;
            if start {
                queue.running += 1;
            }
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
        let _running = Running(&self);
        loop {
            let group: Vec<Waiter<L::Answer>> = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
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

/// Counts a runner out when it ends, even by a panic, so that the next lookup starts
/// another rather than waiting for one that is gone.
struct Running<'a, L: Lookup>(&'a GroupRead<L>);

impl<L: Lookup> Drop for Running<'_, L> {
    fn drop(&mut self) {
        self.0.queue().running -= 1;
    }
}
