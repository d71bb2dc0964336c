//! Garbage collection as a background job (see [`crate::registry::gc`]).

use super::Job;
use crate::registry::gc::GcOptions;
use crate::registry::{Registry, RegistryResult};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Collects garbage every `interval`, the first time one interval after start, so that a
/// registry restarted often (a crash loop, a rolling update) does not collect at every
/// start.
pub struct CollectGarbage {
    interval: Duration,
    options: GcOptions,
}

impl CollectGarbage {
    pub fn every(interval: Duration, options: GcOptions) -> CollectGarbage {
        CollectGarbage { interval, options }
    }
}

#[async_trait]
impl Job for CollectGarbage {
    fn name(&self) -> &str {
        "garbage collection"
    }

    fn period(&self) -> Duration {
        self.interval
    }

    fn first_pass_after(&self) -> Duration {
        self.interval
    }

    /// Upstream caches over their `max_size` are trimmed first, so that this very
    /// collection reclaims what they evict.
    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        if !self.options.dry_run {
            if let Err(e) = registry.evict_upstream_caches().await {
                tracing::warn!("upstream cache eviction failed: {}", e.message);
            }
        }
        let outcome = registry.collect_garbage(&self.options).await;
        crate::metrics::gc_run(outcome.as_ref().map_err(|_| ()));
        outcome.map(|_| ())
    }
}
