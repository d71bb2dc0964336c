//! Failed logins per client address: after `max_failures` within `window`, further
//! attempts from that address are answered 429 TOOMANYREQUESTS with `Retry-After`
//! until the window has passed, so passwords cannot be guessed at speed. Counted per
//! address, not per user, so nobody can lock another person out of their account.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked before expired entries are swept out.
const SWEEP_ABOVE: usize = 10_000;

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> LoginThrottle {
        LoginThrottle {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while `client` has failed too often. `None` is a client whose
    /// address is unknown (an embedding server without connect info): all such share one
    /// count.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&client) {
            Some((started, count)) if *count >= self.max_failures && started.elapsed() < self.window => Err(self
                .window
                .saturating_sub(started.elapsed())
                .max(Duration::from_secs(1))),
            _ => Ok(()),
        }
    }

    /// Counts one failed login of `client`.
    pub fn failed(&self, client: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > SWEEP_ABOVE {
            let window = self.window;
            failures.retain(|_, (started, _)| started.elapsed() < window);
        }
        let entry = failures.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
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

    #[test]
    fn blocks_after_too_many_failures() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        t.failed(a);
        assert!(t.check(a).is_ok());
        t.failed(a);
        assert!(t.check(a).unwrap_err() <= Duration::from_secs(60));
        assert!(t.check(b).is_ok());
    }
}
