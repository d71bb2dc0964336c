//! Who made a change: the HTTP layer runs each request with its signed-in user as the
//! task's actor, and the events the request causes name it. The registry's own
//! housekeeping runs as one of the actors below, so that a receiver can tell a removal
//! a user asked for from one a policy made.

use std::future::Future;

tokio::task_local! {
    static ACTOR: Option<String>;
}

/// The actor of the garbage collector's removals (untagged manifests nothing needs).
pub const GC: &str = "gc";
/// The actor of the tags a retention policy removes.
pub const RETENTION: &str = "retention";
/// The actor of what a pull-through cache drops to stay within its size.
pub const UPSTREAM_EVICTION: &str = "upstream-eviction";

/// Runs `work` with `actor` (the signed-in user's name; `None`: anonymous) as the actor
/// of the events it causes.
pub async fn with_actor<F: Future>(actor: Option<String>, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

/// The actor of the running task, if one was set.
pub(crate) fn current() -> Option<String> {
    ACTOR.try_with(|a| a.clone()).ok().flatten()
}
