//! Who made a change: the HTTP layer runs each request with its signed-in user as the
//! task's actor, and the events the request causes name it.

use std::future::Future;

tokio::task_local! {
    static ACTOR: Option<String>;
}

/// Runs `work` with `actor` (the signed-in user's name; `None`: anonymous) as the actor
/// of the events it causes.
pub async fn with_actor<F: Future>(actor: Option<String>, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

/// The actor of the running task, if one was set.
pub(crate) fn current() -> Option<String> {
    ACTOR.try_with(|a| a.clone()).ok().flatten()
}
