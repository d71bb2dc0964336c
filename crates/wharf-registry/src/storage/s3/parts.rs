//! Parts written concurrently: how an append keeps several segment (or part) PUTs in
//! flight while the body goes on arriving, with the memory it may hold bounded.
//!
//! A body is cut into pieces of [`PartSettings::part_size`] (growing, see
//! [`PartSettings::size_of`]); each full piece is handed to a spawned task that stores
//! it, and at most [`PartSettings::in_flight`] such tasks run at once: when they all
//! are busy, the next full piece waits for the oldest to finish (and so does the body,
//! which is not read meanwhile). An append therefore holds at most
//! `(in_flight + 1) × part_size` bytes of the body in memory (the pieces being sent and
//! the one filling), 40 MiB with the defaults, whatever the body's size. Results come
//! back in the order the pieces were given, so the record names them in the body's
//! order however the requests overtake each other.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use tokio::task::JoinHandle;

/// S3's smallest part but the last (5 MiB); a configured part size is never below it.
pub(super) const MIN_PART_SIZE: usize = 5 << 20;

/// How an upload's bytes are cut into parts and how many are sent at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PartSettings {
    /// The size of the first 2,500 parts (8 MiB by default); later ones double every
    /// 2,500, so S3's 10,000 parts reach far past 5 GiB.
    pub part_size: usize,
    /// Part PUTs (and part copies) in flight at once for one request.
    pub in_flight: usize,
    /// Ranged GETs of `part_size` in flight at once for one large read; 1 (the
    /// default): one GET, streamed. On a busy 2-core machine against SeaweedFS, 4 or 8
    /// ranges were not reliably faster than one GET (68–272 MiB/s either way), and each
    /// download would hold `read_in_flight × part_size` bytes.
    pub read_in_flight: usize,
}

impl Default for PartSettings {
    fn default() -> PartSettings {
        PartSettings {
            part_size: 8 << 20,
            in_flight: 4,
            read_in_flight: 1,
        }
    }
}

impl PartSettings {
    /// Settings with `part_size` raised to S3's 5 MiB minimum and `in_flight` to one.
    pub(super) fn new(part_size: usize, in_flight: usize) -> PartSettings {
        PartSettings {
            part_size: part_size.max(MIN_PART_SIZE),
            in_flight: in_flight.max(1),
            read_in_flight: 1,
        }
    }

    /// The size of part `index` (0-based): `part_size` for the first 2,500, then twice
    /// as large every 2,500 (at most eight times), so 10,000 parts of the default size
    /// hold about 290 GiB.
    pub(super) fn size_of(&self, index: usize) -> usize {
        self.part_size << (index / 2500).min(3)
    }
}

/// Tasks storing pieces, oldest first; dropping it (an append given up, the request
/// gone) aborts those still running.
pub(super) struct InFlight<T: Send + 'static> {
    limit: usize,
    tasks: VecDeque<JoinHandle<io::Result<T>>>,
}

impl<T: Send + 'static> InFlight<T> {
    pub(super) fn new(limit: usize) -> InFlight<T> {
        InFlight {
            limit: limit.max(1),
            tasks: VecDeque::new(),
        }
    }

    /// Starts `store` on its own task. When `limit` tasks already run, first waits for
    /// the oldest and returns its result (which the caller records, in order).
    pub(super) async fn push(
        &mut self,
        store: impl Future<Output = io::Result<T>> + Send + 'static,
    ) -> io::Result<Option<T>> {
        let finished = if self.tasks.len() >= self.limit {
            self.next().await?
        } else {
            None
        };
        self.tasks.push_back(tokio::spawn(store));
        Ok(finished)
    }

    /// The result of the oldest task still held, or `None` when there is none.
    pub(super) async fn next(&mut self) -> io::Result<Option<T>> {
        let Some(task) = self.tasks.front_mut() else {
            return Ok(None);
        };
        let result = task.await;
        self.tasks.pop_front();
        match result {
            Ok(stored) => stored.map(Some),
            Err(e) => Err(io::Error::other(format!("a part upload task failed: {e}"))),
        }
    }

    /// Waits for every task, returning their results in order; the first failure ends
    /// the wait (the tasks after it are aborted when `self` drops).
    pub(super) async fn drain(&mut self) -> io::Result<Vec<T>> {
        let mut done = Vec::with_capacity(self.tasks.len());
        while let Some(stored) = self.next().await? {
            done.push(stored);
        }
        Ok(done)
    }
}

impl<T: Send + 'static> Drop for InFlight<T> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn parts_grow_so_ten_thousand_pass_five_gib_and_never_fall_under_the_minimum() {
        let settings = PartSettings::default();
        let total: u64 = (0..10_000).map(|i| settings.size_of(i) as u64).sum();
        assert!(total > 200 << 30);
        assert_eq!(PartSettings::new(1, 0), PartSettings::new(MIN_PART_SIZE, 1));
        assert_eq!(PartSettings::new(1, 0).size_of(2500), 2 * MIN_PART_SIZE);
    }

    /// Later pieces finishing first still come back in the order they were given, and
    /// no more than the limit ever run at once.
    #[tokio::test]
    async fn results_come_back_in_order_with_at_most_the_limit_running() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut in_flight = InFlight::new(3);
        let mut results = Vec::new();
        for i in 0..10u64 {
            let (running, most) = (running.clone(), most.clone());
            let task = async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // The first pieces are the slowest.
                tokio::time::sleep(Duration::from_millis(40 - 4 * i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            };
            results.extend(in_flight.push(task).await.unwrap());
        }
        results.extend(in_flight.drain().await.unwrap());
        assert_eq!(results, (0..10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    /// A failing piece fails the drain, and dropping the set stops the others.
    #[tokio::test]
    async fn a_failure_is_reported_and_dropping_aborts_the_rest() {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut in_flight = InFlight::new(4);
        in_flight
            .push(async { Err::<(), _>(io::Error::other("refused")) })
            .await
            .unwrap();
        let slow = finished.clone();
        in_flight
            .push(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                slow.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap();
        assert!(in_flight.drain().await.is_err());
        drop(in_flight);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 0, "the slow piece was aborted");
    }
}
