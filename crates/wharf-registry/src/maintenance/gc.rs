//! Garbage collection as a background job (see [`crate::registry::gc`]).

use super::Job;
use crate::registry::gc::GcOptions;
use crate::registry::{Registry, RegistryResult};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Collects garbage every `interval`, the first time one interval after start: a
/// registry restarted often (a crash loop, a rolling update) does not collect at every
/// start, and nothing can be old enough to collect right after a fresh start anyway.
pub struct CollectGarbage {
    interval: Duration,
    options: GcOptions,
    started: bool,
}

impl CollectGarbage {
    pub fn every(interval: Duration, options: GcOptions) -> CollectGarbage {
        CollectGarbage {
            interval,
            options,
            started: false,
        }
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

    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        if !std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        registry.collect_garbage(&self.options).await.map(|_| ())
    }
}
