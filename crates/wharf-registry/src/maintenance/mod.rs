//! The registry's background work: jobs that run periodically beside the server, such
//! as the expiry of idle upload sessions. An application that embeds the registry runs
//! them all with one [`Maintenance`], as `wharf serve` does:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use wharf_registry::Registry;
//! # async fn serve(registry: Arc<Registry>) {
//! let maintenance = wharf_registry::maintenance::Maintenance::new(registry.clone()).spawn();
//! // … serve `wharf_registry::router(registry)` …
//! maintenance.stop().await; // or drop it
//! # }
//! ```
//!
//! Each job has its own period and runs independently of the others, so a long pass of
//! one does not hold back another. A job is a [`Job`]: the standard ones are in
//! [`Maintenance::new`], and more (an application's own, say) are added with
//! [`Maintenance::with_job`].

mod gc;
mod lifecycle;
mod pulls;
mod uploads;

pub use gc::CollectGarbage;
pub use lifecycle::{ApplyRetention, Scrub};
pub use pulls::FlushPulls;
pub use uploads::{ExpireUploads, RemoveOrphanUploads};

use crate::registry::{Registry, RegistryResult};
use async_trait::async_trait;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One kind of periodic background work.
#[async_trait]
pub trait Job: Send + 'static {
    /// What the job does, for logs ("upload expiry").
    fn name(&self) -> &str;

    /// How long to wait after one pass before the next.
    fn period(&self) -> Duration;

    /// How long to wait before the first pass: at once unless the job says otherwise.
    fn first_pass_after(&self) -> Duration {
        Duration::ZERO
    }

    /// One pass. An error is logged and the job runs again after its period; so is a
    /// panic, which stops neither this job nor the others.
    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()>;

    /// Called once when the maintenance is stopped ([`MaintenanceHandle::stop`]),
    /// after the last pass: for work that must not be lost at a graceful stop.
    async fn finish(&mut self, _registry: &Arc<Registry>) {}
}

/// The registry's background jobs, to be run for as long as the registry serves.
pub struct Maintenance {
    registry: Arc<Registry>,
    jobs: Vec<Box<dyn Job>>,
}

impl Maintenance {
    /// The standard jobs, with periods from the registry's configuration:
    /// [`ExpireUploads`], [`RemoveOrphanUploads`] and [`FlushPulls`].
    pub fn new(registry: Arc<Registry>) -> Maintenance {
        let expire = ExpireUploads::for_ttl(registry.config().upload_ttl);
        Maintenance::without_jobs(registry)
            .with_job(expire)
            .with_job(RemoveOrphanUploads::default())
            .with_job(FlushPulls::default())
    }

    /// No jobs yet: only those added with [`with_job`](Maintenance::with_job) run.
    pub fn without_jobs(registry: Arc<Registry>) -> Maintenance {
        Maintenance {
            registry,
            jobs: Vec::new(),
        }
    }

    /// Adds a job, run with the others.
    pub fn with_job(mut self, job: impl Job) -> Maintenance {
        self.jobs.push(Box::new(job));
        self
    }

    /// The names of the jobs that will run.
    pub fn job_names(&self) -> Vec<&str> {
        self.jobs.iter().map(|job| job.name()).collect()
    }

    /// Runs every job for ever. Dropping the future stops them, possibly in the middle
    /// of a pass (what a cut pass leaves, the next pass of the same job finishes: an
    /// expired session's bytes, for one, are then orphan bytes). [`spawn`] stops between
    /// passes instead.
    ///
    /// [`spawn`]: Maintenance::spawn
    pub async fn run(self) {
        self.run_until(CancellationToken::new()).await
    }

    /// Runs every job on a task of its own, until the handle is stopped or dropped.
    /// Needs a Tokio runtime.
    pub fn spawn(self) -> MaintenanceHandle {
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.run_until(stop.clone()));
        MaintenanceHandle { stop, task: Some(task) }
    }

    async fn run_until(self, stop: CancellationToken) {
        let registry = self.registry;
        let loops = self.jobs.into_iter().map(|job| run_job(job, &registry, &stop));
        futures::future::join_all(loops).await;
    }
}

/// Passes of one job, the first after `first_pass_after`, then `period` apart, until `stop`.
async fn run_job(mut job: Box<dyn Job>, registry: &Arc<Registry>, stop: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(job.first_pass_after()) => {}
        _ = stop.cancelled() => {}
    }
    while !stop.is_cancelled() {
        match AssertUnwindSafe(job.run(registry)).catch_unwind().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("background job {} failed: {}", job.name(), e.message),
            Err(_) => tracing::error!("background job {} panicked; it runs again after its period", job.name()),
        }
        tokio::select! {
            _ = tokio::time::sleep(job.period()) => {}
            _ = stop.cancelled() => {}
        }
    }
    if AssertUnwindSafe(job.finish(registry)).catch_unwind().await.is_err() {
        tracing::error!("background job {} panicked as it finished", job.name());
    }
}

/// The running [`Maintenance`] of [`Maintenance::spawn`]. Dropping it stops the jobs
/// once their passes in progress end.
pub struct MaintenanceHandle {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MaintenanceHandle {
    /// Stops the jobs and waits for the passes in progress to end.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::MemoryMetaStore;
    use crate::storage::MemoryBlobStore;
    use crate::RegistryConfig;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its passes; panics on the first one when asked to.
    struct Counting {
        passes: Arc<AtomicUsize>,
        panic_first: bool,
    }

    #[async_trait]
    impl Job for Counting {
        fn name(&self) -> &str {
            "counting"
        }

        fn period(&self) -> Duration {
            Duration::from_millis(10)
        }

        async fn run(&mut self, _: &Arc<Registry>) -> RegistryResult<()> {
            let pass = self.passes.fetch_add(1, Ordering::SeqCst);
            if self.panic_first && pass == 0 {
                panic!("a broken job");
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn jobs_run_at_their_periods_and_a_panic_stops_none_of_them() {
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryBlobStore::new()),
            Arc::new(MemoryMetaStore::new()),
            RegistryConfig::default(),
        ));
        let (steady, broken) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let maintenance = Maintenance::without_jobs(registry)
            .with_job(Counting {
                passes: steady.clone(),
                panic_first: false,
            })
            .with_job(Counting {
                passes: broken.clone(),
                panic_first: true,
            })
            .spawn();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let passes = || (steady.load(Ordering::SeqCst), broken.load(Ordering::SeqCst));
        while passes().0.min(passes().1) < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), maintenance.stop())
            .await
            .unwrap();
        let (steady, broken) = passes();
        assert!(steady >= 3, "{steady} passes");
        assert!(broken >= 3, "the job that panicked ran again: {broken} passes");
        let stopped = passes();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(passes(), stopped, "no pass after stop");
    }

    /// A job that waits before its first pass (as garbage collection does).
    struct Delayed(Arc<AtomicUsize>);

    #[async_trait]
    impl Job for Delayed {
        fn name(&self) -> &str {
            "delayed"
        }

        fn period(&self) -> Duration {
            Duration::from_millis(10)
        }

        fn first_pass_after(&self) -> Duration {
            Duration::from_secs(2)
        }

        async fn run(&mut self, _: &Arc<Registry>) -> RegistryResult<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_job_waits_its_first_pass_delay_then_runs_at_its_period() {
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryBlobStore::new()),
            Arc::new(MemoryMetaStore::new()),
            RegistryConfig::default(),
        ));
        let passes = Arc::new(AtomicUsize::new(0));
        let started = std::time::Instant::now();
        let maintenance = Maintenance::without_jobs(registry)
            .with_job(Delayed(passes.clone()))
            .spawn();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() < Duration::from_secs(2) {
            assert_eq!(passes.load(Ordering::SeqCst), 0, "no pass before the first delay");
        }
        let deadline = started + Duration::from_secs(10);
        while passes.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            passes.load(Ordering::SeqCst) >= 2,
            "passes every period after the delay"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "the first pass waited its delay"
        );
        maintenance.stop().await;
    }

    #[test]
    fn the_standard_jobs_are_upload_expiry_orphan_removal_and_pull_flush() {
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryBlobStore::new()),
            Arc::new(MemoryMetaStore::new()),
            RegistryConfig::default(),
        ));
        assert_eq!(
            Maintenance::new(registry).job_names(),
            ["upload expiry", "orphan upload removal", "pull time flush"]
        );
    }
}
