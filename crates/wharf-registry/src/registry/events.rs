//! Changes that events describe go through here: with events on, to the metadata store
//! together with the events; otherwise through its plain calls, at no cost.

use super::Registry;
use crate::meta::{outbox_apply, Change, MetaResult};

impl Registry {
    /// Applies `change`, recording the events it causes that some endpoint wants in
    /// the same transaction; answers what the change's own call answers.
    pub(super) async fn apply(&self, change: Change<'_>) -> MetaResult<bool> {
        let events = &self.config.events;
        if !events.enabled() {
            return outbox_apply(self.meta.as_ref(), change).await;
        }
        let described = crate::events::describe(events, &change);
        if described.is_empty() {
            return outbox_apply(self.meta.as_ref(), change).await;
        }
        let applied = self.meta.apply_with_events(change, described).await;
        events.wake.notify_waiters();
        applied
    }
}
