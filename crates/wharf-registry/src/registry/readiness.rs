//! Whether the registry can serve now: its two stores answer and take writes, and it is
//! not shutting down. What a load balancer's readiness probe (`/readyz`) asks.
//!
//! A probe is cheap but not free (a write in each store), and `/readyz` answers anyone
//! without signing in, so probes run at most once per [`PROBE_EVERY`]: callers within
//! that time get the last result, and callers that come while a probe runs wait for it
//! rather than start another. Each store gets [`PROBE_TIMEOUT`] to answer; one that
//! takes longer counts as not ready.

use super::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a probe's result stands for later callers.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long each store has to answer a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a readiness probe found. Says which part failed, never why (that is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub metadata: bool,
    pub blobs: bool,
    /// The server has begun to stop (see [`Registry::begin_shutdown`]).
    pub shutting_down: bool,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.metadata && self.blobs && !self.shutting_down
    }
}

/// The registry's readiness state: the stop flag and the last probe.
#[derive(Default)]
pub(crate) struct ReadinessState {
    shutting_down: AtomicBool,
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

impl Registry {
    /// Marks the registry as stopping: from now on [`Registry::readiness`] says not
    /// ready, so load balancers stop sending it new work while requests in flight
    /// finish. Requests are still served.
    pub fn begin_shutdown(&self) {
        self.readiness.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether the stores answer and take writes, and the registry is not stopping
    /// (rate-limited, see the module's documentation).
    pub async fn readiness(&self) -> Readiness {
        let shutting_down = self.readiness.shutting_down.load(Ordering::SeqCst);
        let mut last = self.readiness.last.lock().await;
        let probed = match *last {
            Some((at, probed)) if at.elapsed() < PROBE_EVERY => probed,
            _ => {
                let probed = self.probe().await;
                *last = Some((Instant::now(), probed));
                probed
            }
        };
        Readiness {
            shutting_down,
            ..probed
        }
    }

    async fn probe(&self) -> Readiness {
        let (metadata, blobs) = tokio::join!(
            tokio::time::timeout(PROBE_TIMEOUT, self.meta.check_ready()),
            tokio::time::timeout(PROBE_TIMEOUT, self.blobs.check_ready()),
        );
        let metadata = match metadata {
            Ok(Ok(())) => true,
            Ok(Err(e)) => not_ready("metadata store", &e),
            Err(_) => not_ready("metadata store", &format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        let blobs = match blobs {
            Ok(Ok(())) => true,
            Ok(Err(e)) => not_ready("blob store", &e),
            Err(_) => not_ready("blob store", &format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        Readiness {
            metadata,
            blobs,
            shutting_down: false,
        }
    }
}

/// Logs why a store is not ready (at most once a probe, so at most once a second).
fn not_ready(store: &str, why: &dyn std::fmt::Display) -> bool {
    tracing::warn!("readiness probe: the {store} is not ready: {why}");
    false
}
