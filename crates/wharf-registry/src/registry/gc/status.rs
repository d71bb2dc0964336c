//! The outcome of this process's last collection, for whoever shows the registry's state
//! (the web UI): when it ended and what it removed, or why it failed.

use super::GcReport;
use std::sync::Mutex;
use std::time::SystemTime;

/// A finished collection (not a dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct LastCollection {
    pub finished: SystemTime,
    /// What it removed, or the message of the error that ended it.
    pub outcome: Result<GcReport, String>,
}

/// Where [`crate::Registry::collect_garbage`] leaves its outcome.
#[derive(Debug, Default)]
pub(crate) struct CollectionStatus(Mutex<Option<LastCollection>>);

impl CollectionStatus {
    pub(crate) fn record(&self, outcome: Result<GcReport, String>) {
        let last = LastCollection {
            finished: SystemTime::now(),
            outcome,
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
    }

    pub(crate) fn last(&self) -> Option<LastCollection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
