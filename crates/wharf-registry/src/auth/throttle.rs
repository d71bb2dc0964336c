//! Failed logins per client address: after `max_failures` within `window`, further
//! attempts from that address are answered 429 TOOMANYREQUESTS with `Retry-After`
//! until the window has passed, so passwords cannot be guessed at speed. Counted per
//! address, not per user, so nobody can lock another person out of their account.
//!
//! The limit holds however many guesses arrive at once: an attempt takes a place before
//! its (slow) password check, and the failures counted plus the checks in flight never
//! exceed `max_failures`. An attempt beyond that waits while checks are in flight
//! (one of them may succeed and give its place back) and is refused once the failures
//! alone reach the limit. A success gives its place back but does not forgive earlier
//! failures: knowing one password must not buy more guesses at another.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Addresses tracked before expired entries are swept out.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct LoginThrottle {
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

/// A place taken for one login attempt. Say how it ended with [`Attempt::failed`] or
/// [`Attempt::succeeded`]; dropped without either (the request was cancelled, or the
/// check could not be made), it gives its place back without counting a failure.
#[derive(Debug)]
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    client: Option<IpAddr>,
    open: bool,
}

impl Attempt {
    /// The password was wrong: counts a failure in the place taken.
    pub fn failed(mut self) {
        self.finish(true);
    }

    /// The password was right: gives the place back.
    pub fn succeeded(mut self) {
        self.finish(false);
    }

    fn finish(&mut self, failed: bool) {
        if std::mem::replace(&mut self.open, false) {
            self.throttle.finish(self.client, failed);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.finish(false);
    }
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            max_failures: max_failures.max(1),
            window,
            clients: Mutex::new(HashMap::new()),
            released: Notify::new(),
            warned_no_address: AtomicBool::new(false),
        }
    }

    /// Takes a place for one login attempt of `client`, waiting while the places are
    /// held by checks in flight; `Err(retry_after)` once `client` has failed too often.
    /// `None` is a client whose address is unknown (the server gives no connect info):
    /// all such share one count, so one client's failures refuse every other's logins
    /// for the window; a warning says so, once.
    pub async fn attempt(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Attempt, Duration> {
        if client.is_none() && !self.warned_no_address.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the registry does not know its clients' addresses, so failed logins are counted for all \
                 clients together (one client's failures lock every client out for the window): serve the \
                 router with into_make_service_with_connect_info::<SocketAddr>()"
            );
        }
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the count is read, so a release in between is not missed.
            released.as_mut().enable();
            match self.try_take(client) {
                Taken::Yes => {
                    return Ok(Attempt {
                        throttle: self.clone(),
                        client,
                        open: true,
                    })
                }
                Taken::Refused(retry_after) => return Err(retry_after),
                Taken::Wait => released.await,
            }
        }
    }

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

    #[tokio::test]
    async fn blocks_after_too_many_failures() {
        let t = Arc::new(LoginThrottle::new(2, Duration::from_secs(60)));
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        t.attempt(a).await.unwrap().failed();
        t.attempt(a).await.unwrap().succeeded();
        t.attempt(a).await.unwrap().failed();
        assert!(t.attempt(a).await.unwrap_err() <= Duration::from_secs(60));
        t.attempt(b).await.unwrap().succeeded();
    }

    #[tokio::test]
    async fn checks_in_flight_hold_places_and_a_success_gives_its_place_back() {
        let t = Arc::new(LoginThrottle::new(2, Duration::from_secs(60)));
        let a = Some("10.0.0.1".parse().unwrap());
        let first = t.attempt(a).await.unwrap();
        let second = t.attempt(a).await.unwrap();
        let third = tokio::spawn({
            let t = t.clone();
            async move { t.attempt(a).await.map(|attempt| attempt.failed()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "both places are taken: the third waits");
        first.succeeded();
        third.await.unwrap().unwrap();
        second.failed();
        assert!(t.attempt(a).await.is_err(), "two failures: refused");
    }

    #[tokio::test]
    async fn a_dropped_attempt_counts_nothing() {
        let t = Arc::new(LoginThrottle::new(1, Duration::from_secs(60)));
        drop(t.attempt(None).await.unwrap());
        t.attempt(None).await.unwrap().failed();
        assert!(t.attempt(None).await.is_err());
    }
}
