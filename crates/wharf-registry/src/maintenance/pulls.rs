//! Writing the pull times noted in memory (see [`Registry::flush_pulls`]) as a
//! background job.

use super::Job;
use crate::registry::{Registry, RegistryResult};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Flushes the noted pull times every `interval`, and once more when the maintenance
/// stops (a graceful shutdown loses none).
pub struct FlushPulls {
    interval: Duration,
}

impl FlushPulls {
    /// How often the standard job flushes: one batched write per half minute.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

    pub fn every(interval: Duration) -> FlushPulls {
        FlushPulls { interval }
    }
}

impl Default for FlushPulls {
    fn default() -> Self {
        FlushPulls::every(FlushPulls::DEFAULT_INTERVAL)
    }
}

#[async_trait]
impl Job for FlushPulls {
    fn name(&self) -> &str {
        "pull time flush"
    }

    fn period(&self) -> Duration {
        self.interval
    }

    fn first_pass_after(&self) -> Duration {
        self.interval
    }

    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        registry.flush_pulls().await.map(|_| ())
    }

    async fn finish(&mut self, registry: &Arc<Registry>) {
        if let Err(e) = registry.flush_pulls().await {
            tracing::warn!("pull times not written at stop: {}", e.message);
        }
    }
}
