//! The cross-replica half of an upload session's lock: the session's lease in the
//! metadata store (see `meta::lease`). The in-process lock ([`super::locks`]) keeps
//! requests of this process apart; the lease keeps them apart from requests on other
//! replicas, so that of two replicas receiving chunks of one session at once only one
//! stores and records its chunk, then the other finds the session moved on (and
//! answers `416` with the session's range, as the spec asks for a chunk out of order).
//!
//! While a request holds the lease, a task renews it; when a request elsewhere wants
//! it, the renewal learns so and raises the in-process take-over signal, so a stalled
//! body is given up for it as it would be for a newer request on this replica.

use super::locks::TakeOverSignal;
use super::{Registry, RegistryResult};
use crate::meta::{LeaseAttempt, LeaseRenewal, MetaStore, LEASE_TTL};
use std::sync::Arc;
use std::time::Duration;

/// How often a held lease is renewed (well within [`LEASE_TTL`]).
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// How long to wait before asking again for a lease held elsewhere.
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(50);

/// A session's lease, held by one request: released by [`SessionLease::release`], or,
/// if the request is dropped first, in the background.
pub(super) struct SessionLease {
    meta: Arc<dyn MetaStore>,
    id: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

impl Registry {
    /// Takes the lease of session `id`, waiting while a request on another replica
    /// holds it (it is asked to give a stalled body up; a dead replica's lease lapses
    /// after [`LEASE_TTL`]). Call with the session's in-process lock held.
    pub(super) async fn lease_session(&self, id: &str, take_over: TakeOverSignal) -> RegistryResult<SessionLease> {
        let holder = uuid::Uuid::new_v4().to_string();
        let mut wait = ASK_AGAIN_AFTER;
        while self.meta.take_upload_lease(id, &holder, LEASE_TTL).await? == LeaseAttempt::Busy {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(400));
        }
        let renewal = tokio::spawn(renew(self.meta.clone(), id.to_string(), holder.clone(), take_over));
        Ok(SessionLease {
            meta: self.meta.clone(),
            id: id.to_string(),
            holder,
            renewal,
            released: false,
        })
    }

    /// Takes the lease of session `id` if it is free now; `None` if another holds it.
    pub(super) async fn try_lease_session(&self, id: &str) -> RegistryResult<Option<SessionLease>> {
        let holder = uuid::Uuid::new_v4().to_string();
        if self.meta.take_upload_lease(id, &holder, LEASE_TTL).await? == LeaseAttempt::Busy {
            return Ok(None);
        }
        // Held briefly, without a body to give up: renewed, never asked to stop.
        let renewal = tokio::spawn(renew(
            self.meta.clone(),
            id.to_string(),
            holder.clone(),
            TakeOverSignal::unheard(),
        ));
        Ok(Some(SessionLease {
            meta: self.meta.clone(),
            id: id.to_string(),
            holder,
            renewal,
            released: false,
        }))
    }
}

/// Renews the lease every [`RENEW_EVERY`] until aborted; raises `take_over` when a
/// request elsewhere wants it. A lost lease is not renewed again: the holder's record
/// of its chunk will be refused.
async fn renew(meta: Arc<dyn MetaStore>, id: String, holder: String, take_over: TakeOverSignal) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match meta.renew_upload_lease(&id, &holder, LEASE_TTL).await {
            Ok(LeaseRenewal::Kept { wanted }) => {
                if wanted {
                    take_over.raise();
                }
            }
            Ok(LeaseRenewal::Lost) => return,
            Err(e) => tracing::warn!(upload = %id, error = %e, "could not renew an upload's lease"),
        }
    }
}

impl SessionLease {
    /// The holder id the store knows this lease by.
    pub(super) fn holder(&self) -> &str {
        &self.holder
    }

    /// Frees the lease for the next request (on any replica).
    pub(super) async fn release(mut self) {
        self.released = true;
        self.renewal.abort();
        if let Err(e) = self.meta.release_upload_lease(&self.id, &self.holder).await {
            tracing::warn!(upload = %self.id, error = %e, "could not release an upload's lease (it lapses)");
        }
    }
}

impl Drop for SessionLease {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        // The request was dropped (its client went away) while holding the lease.
        let (meta, id, holder) = (self.meta.clone(), self.id.clone(), self.holder.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = meta.release_upload_lease(&id, &holder).await;
            });
        }
    }
}
