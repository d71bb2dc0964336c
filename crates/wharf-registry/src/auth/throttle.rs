//! Failed logins per client address, counted in this process: the default adapter of
//! [`LoginLimits`] (see its contract). After `max_failures` within `window`, further
//! attempts from that address are answered 429 TOOMANYREQUESTS with `Retry-After`
//! until the window has passed, so passwords cannot be guessed at speed.
//!
//! Each process counts on its own: replicas behind a load balancer allow the limit
//! once each. For one limit over all of them, use the PostgreSQL adapter
//! (`meta::PostgresLoginLimits`).
//!
//! An attempt beyond the places left waits while checks are in flight (woken when one
//! ends) and is refused once the failures alone reach the limit. Checks in flight are
//! carried into a new window: they hold their places until they end.

use super::login_limits::{warn_if_address_unknown, Attempt, LoginLimits, Outcome, Place, Refused};
use async_trait::async_trait;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Addresses tracked before expired entries are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// The in-process failed-login limit. Cloning it shares the counts.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    counts: Arc<Counts>,
}

#[derive(Debug)]
struct Counts {
    max_failures: u32,
    window: Duration,
    clients: Mutex<HashMap<Option<IpAddr>, Client>>,
    /// Woken whenever a check in flight ends, for attempts waiting for a place.
    released: Notify,
    /// Whether the operator was told that clients without an address share one count.
    warned_no_address: AtomicBool,
}

/// One address's failures in the current window and its checks in flight.
#[derive(Debug, Clone, Copy)]
struct Client {
    started: Instant,
    failures: u32,
    in_flight: u32,
}

impl Client {
    fn new() -> Client {
        Client {
            started: Instant::now(),
            failures: 0,
            in_flight: 0,
        }
    }
}

/// A place taken in this process's counts.
struct LocalPlace {
    counts: Arc<Counts>,
    client: Option<IpAddr>,
}

#[async_trait]
impl Place for LocalPlace {
    async fn finish(self: Box<Self>, outcome: Outcome) {
        self.counts.finish(self.client, outcome == Outcome::Failed);
    }

    fn abandon(self: Box<Self>) {
        self.counts.finish(self.client, false);
    }
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            counts: Arc::new(Counts {
                max_failures: max_failures.max(1),
                window,
                clients: Mutex::new(HashMap::new()),
                released: Notify::new(),
                warned_no_address: AtomicBool::new(false),
            }),
        }
    }
}

#[async_trait]
impl LoginLimits for LoginThrottle {
    /// Never [`Refused::Unavailable`]: the counts are in memory.
    async fn attempt(&self, client: Option<IpAddr>) -> Result<Attempt, Refused> {
        warn_if_address_unknown(client, &self.counts.warned_no_address);
        loop {
            let released = self.counts.released.notified();
            tokio::pin!(released);
            // Registered before the count is read, so a release in between is not missed.
            released.as_mut().enable();
            match self.counts.try_take(client) {
                Taken::Yes => {
                    return Ok(Attempt::new(Box::new(LocalPlace {
                        counts: self.counts.clone(),
                        client,
                    })))
                }
                Taken::Refused(retry_after) => return Err(Refused::TooMany(retry_after)),
                Taken::Wait => released.await,
            }
        }
    }
}

impl Counts {
    fn try_take(&self, client: Option<IpAddr>) -> Taken {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() > SWEEP_ABOVE {
            let window = self.window;
            clients.retain(|_, c| c.in_flight > 0 || c.started.elapsed() < window);
        }
        let entry = clients.entry(client).or_insert_with(Client::new);
        if entry.started.elapsed() >= self.window {
            *entry = Client {
                in_flight: entry.in_flight,
                ..Client::new()
            };
        }
        if entry.failures >= self.max_failures {
            return Taken::Refused(
                self.window
                    .saturating_sub(entry.started.elapsed())
                    .max(Duration::from_secs(1)),
            );
        }
        if entry.failures + entry.in_flight >= self.max_failures {
            return Taken::Wait;
        }
        entry.in_flight += 1;
        Taken::Yes
    }

    fn finish(&self, client: Option<IpAddr>, failed: bool) {
        {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = clients.get_mut(&client) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
                if failed {
                    if entry.started.elapsed() >= self.window {
                        *entry = Client {
                            in_flight: entry.in_flight,
                            ..Client::new()
                        };
                    }
                    entry.failures += 1;
                }
            }
        }
        self.released.notify_waiters();
    }
}

enum Taken {
    Yes,
    Wait,
    Refused(Duration),
}

impl Default for LoginThrottle {
    /// 10 failures a minute.
    fn default() -> Self {
        LoginThrottle::new(10, Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_many(refused: Refused) -> Duration {
        match refused {
            Refused::TooMany(retry_after) => retry_after,
            other => panic!("refused for another reason: {other:?}"),
        }
    }

    #[tokio::test]
    async fn blocks_after_too_many_failures() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        t.attempt(a).await.unwrap().failed().await;
        t.attempt(a).await.unwrap().succeeded().await;
        t.attempt(a).await.unwrap().failed().await;
        assert!(too_many(t.attempt(a).await.unwrap_err()) <= Duration::from_secs(60));
        t.attempt(b).await.unwrap().succeeded().await;
    }

    #[tokio::test]
    async fn checks_in_flight_hold_places_and_a_success_gives_its_place_back() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let a = Some("10.0.0.1".parse().unwrap());
        let first = t.attempt(a).await.unwrap();
        let second = t.attempt(a).await.unwrap();
        let third = tokio::spawn({
            let t = t.clone();
            async move {
                let attempt = t.attempt(a).await?;
                attempt.failed().await;
                Ok::<(), Refused>(())
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "both places are taken: the third waits");
        first.succeeded().await;
        third.await.unwrap().unwrap();
        second.failed().await;
        assert!(t.attempt(a).await.is_err(), "two failures: refused");
    }

    #[tokio::test]
    async fn a_dropped_attempt_counts_nothing() {
        let t = LoginThrottle::new(1, Duration::from_secs(60));
        drop(t.attempt(None).await.unwrap());
        t.attempt(None).await.unwrap().failed().await;
        assert!(t.attempt(None).await.is_err());
    }
}
