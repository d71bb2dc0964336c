//! Delivery of the outbox's events to the endpoints.
//!
//! One task per endpoint. Each leases its endpoint's cursor in the metadata store (so
//! that of several replicas one delivers to an endpoint at a time), takes the events
//! after it in order, posts each one the endpoint wants until it is accepted (any 2xx)
//! or too old, and moves the cursor past it. Events every endpoint has passed are
//! removed. Delivery is at least once: a crash after a receiver accepted an event and
//! before the cursor moved delivers it again, with the same `id`.

use super::{sign, Endpoint, EventKind, EventsConfig, SIGNATURE_HEADER};
use crate::meta::{Leased, MetaStore, OutboxEvent};
use rand_core::RngCore;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Events taken from the outbox at once.
const BATCH: usize = 64;
/// How long a lease lasts; renewed before every delivery attempt, so it only runs out
/// when its holder stopped.
const LEASE: Duration = Duration::from_secs(30);

/// Delivers the outbox's events; [`Dispatcher::spawn`] runs it.
pub struct Dispatcher {
    meta: Arc<dyn MetaStore>,
    config: EventsConfig,
    http: reqwest::Client,
    /// Who holds leases taken by this dispatcher (unique per process).
    holder: String,
}

/// Stops the dispatcher's tasks when dropped.
pub struct DispatcherHandle {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Dispatcher {
    /// A dispatcher over `meta`'s outbox for `config`'s endpoints: give it the
    /// configuration the registry was given (they share the wake-up signal).
    pub fn new(meta: Arc<dyn MetaStore>, config: EventsConfig) -> Result<Dispatcher, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the events' HTTP client: {e}"))?;
        Ok(Dispatcher {
            meta,
            config,
            http,
            holder: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Names this dispatcher's leases `holder` instead of a random id. A process that
    /// restarts under the same name resumes at once; under a new one it waits for its
    /// previous leases to run out (at most 30 s). Replicas need distinct names.
    pub fn with_holder(mut self, holder: impl Into<String>) -> Dispatcher {
        self.holder = holder.into();
        self
    }

    /// Starts one task per endpoint, for as long as the handle is kept.
    pub fn spawn(self) -> DispatcherHandle {
        let this = Arc::new(self);
        let tasks = (0..this.config.endpoints.len())
            .map(|i| tokio::spawn(this.clone().run(i)))
            .collect();
        DispatcherHandle { tasks }
    }

    fn names(&self) -> Vec<String> {
        self.config.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    async fn run(self: Arc<Self>, index: usize) {
        let endpoint = &self.config.endpoints[index];
        loop {
            let wake = self.config.wake.notified();
            let delivered = match self.round(endpoint).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint.name, error = %e, "event delivery: the outbox did not answer");
                    0
                }
            };
            if delivered == 0 {
                let _ = tokio::time::timeout(self.config.poll, wake).await;
            }
        }
    }

    /// Delivers one batch; how many events it went through.
    async fn round(&self, endpoint: &Endpoint) -> Result<usize, crate::meta::MetaError> {
        let until = SystemTime::now() + LEASE;
        let events = match self
            .meta
            .outbox_lease(&endpoint.name, &self.holder, until, BATCH)
            .await?
        {
            Leased::Held(events) => events,
            Leased::Elsewhere => return Ok(0),
        };
        let count = events.len();
        for event in events {
            let wanted = EventKind::parse(&event.kind).is_ok_and(|k| endpoint.wants(k, &event.repository));
            if wanted && !self.deliver(endpoint, &event).await? {
                // The lease moved to another dispatcher: it delivers from here on.
                return Ok(0);
            }
            if !self
                .meta
                .outbox_advance(&endpoint.name, &self.holder, event.seq)
                .await?
            {
                return Ok(0);
            }
        }
        if count > 0 {
            self.meta.outbox_prune(&self.names()).await?;
        }
        Ok(count)
    }

    /// Posts `event` until the endpoint accepts it or it is too old (then dropped);
    /// `false` if the lease was lost meanwhile.
    async fn deliver(&self, endpoint: &Endpoint, event: &OutboxEvent) -> Result<bool, crate::meta::MetaError> {
        let mut wait = self.config.retry_initial;
        loop {
            let age = SystemTime::now().duration_since(event.time).unwrap_or_default();
            if age > self.config.max_age {
                tracing::warn!(
                    endpoint = %endpoint.name, id = %event.id, kind = %event.kind, repository = %event.repository,
                    age_secs = age.as_secs(), "event dropped: not delivered within the maximum age"
                );
                crate::metrics::event_dropped(&endpoint.name);
                return Ok(true);
            }
            match self.post(endpoint, event).await {
                Ok(()) => {
                    crate::metrics::event_delivered(&endpoint.name);
                    return Ok(true);
                }
                Err(why) => {
                    crate::metrics::event_attempt_failed(&endpoint.name);
                    tracing::info!(endpoint = %endpoint.name, id = %event.id, error = %why, retry_in_ms = wait.as_millis() as u64, "event delivery failed");
                }
            }
            tokio::time::sleep(jittered(wait)).await;
            wait = (wait * 2).min(self.config.retry_max);
            let until = SystemTime::now() + LEASE;
            if let Leased::Elsewhere = self.meta.outbox_lease(&endpoint.name, &self.holder, until, 0).await? {
                return Ok(false);
            }
        }
    }

    async fn post(&self, endpoint: &Endpoint, event: &OutboxEvent) -> Result<(), String> {
        let mut request = self
            .http
            .post(&endpoint.url)
            .timeout(endpoint.timeout)
            .header(http::header::CONTENT_TYPE, "application/cloudevents+json")
            .body(event.body.clone());
        if let Some(secret) = &endpoint.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret.as_bytes(), &event.body));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {}", response.status()))
        }
    }
}

/// `wait` scaled by a random factor between ½ and 1, so that retries of many
/// dispatchers spread out.
fn jittered(wait: Duration) -> Duration {
    let r = rand_core::OsRng.next_u32() as f64 / u32::MAX as f64;
    wait.mul_f64(0.5 + r / 2.0)
}
