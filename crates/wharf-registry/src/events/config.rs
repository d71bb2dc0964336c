//! Where events go, and how hard wharf tries.

use super::EventKind;
use crate::registry::policy::Globs;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// One receiver of events.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Names the endpoint's cursor in the outbox (its delivery state survives restarts
    /// under this name) and its metrics; by default its URL.
    pub name: String,
    pub url: String,
    /// Deliveries carry `Wharf-Signature: sha256=HMAC-SHA256(secret, body)` when set.
    pub secret: Option<String>,
    /// Only events of repositories these globs match (all when `None`).
    pub repositories: Option<Globs>,
    /// Only these kinds (all when `None`).
    pub events: Option<Vec<EventKind>>,
    /// How long one delivery may take before it counts as failed.
    pub timeout: Duration,
}

impl Endpoint {
    /// An endpoint receiving every event, named by its URL.
    pub fn new(url: impl Into<String>) -> Endpoint {
        let url = url.into();
        Endpoint {
            name: url.clone(),
            url,
            secret: None,
            repositories: None,
            events: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Whether this endpoint wants events of `kind` about `repository`.
    pub fn wants(&self, kind: EventKind, repository: &str) -> bool {
        self.events.as_ref().is_none_or(|k| k.contains(&kind))
            && self.repositories.as_ref().is_none_or(|g| g.matches(repository))
    }
}

/// The event notifications' settings: none by default (nothing is recorded).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub endpoints: Vec<Endpoint>,
    /// The CloudEvents `source` of every event (a URI reference naming this registry).
    pub source: String,
    /// An event not delivered to an endpoint this long after it happened is dropped
    /// for that endpoint (logged, and counted in `wharf_events_dropped_total`).
    pub max_age: Duration,
    /// The first wait after a failed delivery; each further failure doubles it (with
    /// jitter), up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How often a dispatcher looks for events other replicas recorded (events this
    /// process records wake it at once).
    pub poll: Duration,
    /// Rung when this process records events, so its dispatcher need not poll.
    pub(crate) wake: Arc<Notify>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            endpoints: Vec::new(),
            source: "wharf".into(),
            max_age: Duration::from_secs(24 * 3600),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            wake: Arc::new(Notify::new()),
        }
    }
}

impl EventsConfig {
    /// Whether any endpoint wants `kind` events about `repository`.
    pub fn wanted(&self, kind: EventKind, repository: &str) -> bool {
        self.endpoints.iter().any(|e| e.wants(kind, repository))
    }

    pub fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }
}
