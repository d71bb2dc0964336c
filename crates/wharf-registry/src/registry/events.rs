//! Changes that events describe go through here: with events on, to the metadata store
//! together with the events; otherwise through its plain calls, at no cost.

use super::Registry;
use crate::meta::{outbox_apply, Change, MetaResult};
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName};

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

    /// The collector's removal of unused manifests (see
    /// [`crate::meta::MetaStore::remove_unused_manifests`]): with events on, each
    /// manifest removed is announced as a `manifest.deleted`, in the removal's own
    /// transaction, by the task's actor (the collector runs as `gc`).
    pub(super) async fn remove_unused_manifests(
        &self,
        items: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        let events = &self.config.events;
        let described: Vec<_> = if events.enabled() {
            items
                .iter()
                .map(|(repo, digest)| {
                    let change = Change::DeleteManifest {
                        repo,
                        digest,
                        fixed: None,
                    };
                    crate::events::describe(events, &change)
                })
                .collect()
        } else {
            Vec::new()
        };
        if described.iter().all(Vec::is_empty) {
            return self.meta.remove_unused_manifests(items, cutoff).await;
        }
        let removed = self
            .meta
            .remove_unused_manifests_with_events(items, cutoff, described)
            .await;
        events.wake.notify_waiters();
        removed
    }
}
