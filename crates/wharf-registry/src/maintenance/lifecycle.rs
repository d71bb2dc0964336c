//! Retention and scrub as background jobs (see [`crate::registry::policy`]).

use super::Job;
use crate::registry::policy::ScrubOptions;
use crate::registry::{Registry, RegistryResult};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Applies the registry's retention policies every `interval`, the first time one
/// interval after start (as [`super::CollectGarbage`] does): what it untags, the next
/// collection removes.
pub struct ApplyRetention {
    interval: Duration,
}

impl ApplyRetention {
    pub fn every(interval: Duration) -> ApplyRetention {
        ApplyRetention { interval }
    }
}

#[async_trait]
impl Job for ApplyRetention {
    fn name(&self) -> &str {
        "retention"
    }

    fn period(&self) -> Duration {
        self.interval
    }

    fn first_pass_after(&self) -> Duration {
        self.interval
    }

    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        registry.apply_retention(false).await.map(|_| ())
    }
}

/// Scrubs every `interval` (the first time one interval after start), paced by its
/// options; damaged blobs are set aside and logged.
pub struct Scrub {
    interval: Duration,
    options: ScrubOptions,
}

impl Scrub {
    pub fn every(interval: Duration, options: ScrubOptions) -> Scrub {
        Scrub { interval, options }
    }
}

#[async_trait]
impl Job for Scrub {
    fn name(&self) -> &str {
        "scrub"
    }

    fn period(&self) -> Duration {
        self.interval
    }

    fn first_pass_after(&self) -> Duration {
        self.interval
    }

    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        let report = registry.scrub(&self.options).await?;
        if report.is_clean() {
            tracing::info!(blobs = report.blobs, bytes = report.bytes, "scrub found no damage");
        } else {
            tracing::error!(
                damaged = report.damaged.len(),
                missing_references = report.missing_references.len(),
                "scrub found damage; damaged blobs were set aside"
            );
        }
        Ok(())
    }
}
