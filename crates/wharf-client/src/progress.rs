//! Progress of transfers, reported per blob through a callback the caller provides.

use std::sync::Arc;
use wharf_oci::Digest;

/// What happened to one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressState {
    /// The transfer began (or began again after a failure, from `done`).
    Started,
    /// `done` bytes of `total` are through.
    Transferring,
    /// The destination already had it: nothing was sent.
    Skipped,
    /// The registry linked it from another repository: nothing was sent.
    Mounted,
    /// All bytes arrived and were verified.
    Finished,
}

/// One progress report.
#[derive(Debug, Clone)]
pub struct ProgressEvent {
    pub digest: Digest,
    pub done: u64,
    pub total: u64,
    pub state: ProgressState,
}

/// Receives progress reports; called from the transfer's task, so it should be quick.
pub type ProgressCallback = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// Reports about one blob, or nothing when nobody listens.
#[derive(Clone)]
pub(crate) struct Reporter {
    callback: Option<ProgressCallback>,
    digest: Digest,
    total: u64,
}

impl Reporter {
    pub(crate) fn new(callback: Option<ProgressCallback>, digest: &Digest, total: u64) -> Reporter {
        Reporter {
            callback,
            digest: digest.clone(),
            total,
        }
    }

    pub(crate) fn report(&self, state: ProgressState, done: u64) {
        if let Some(cb) = &self.callback {
            cb(&ProgressEvent {
                digest: self.digest.clone(),
                done,
                total: self.total,
                state,
            });
        }
    }
}
