//! Event notifications: what happened in the registry, delivered to HTTP endpoints as
//! CloudEvents 1.0 (structured mode, `application/cloudevents+json`).
//!
//! **At least once, in order per repository.** The protocol layer hands each change to
//! the metadata store together with the events that describe it
//! ([`crate::meta::MetaStore::apply_with_events`]); the store writes them to its outbox
//! in the change's own transaction, so an event exists exactly when its change committed
//! (nothing lost by a crash, nothing invented for a change that did not commit). A
//! [`Dispatcher`] reads the outbox after commit and posts each event to every endpoint
//! whose filters want it, each endpoint with its own cursor (one receiver's outage holds
//! back no other), retrying with exponential backoff and jitter, and gives an event up
//! only once it is older than [`EventsConfig::max_age`] (a log line and
//! `wharf_events_dropped_total`). An event carries a stable `id`: a receiver that hears
//! one twice (after a crash between a delivery and its acknowledgement) drops the copy.
//!
//! With no endpoint configured nothing is recorded at all.

mod actor;
mod config;
mod describe;
mod dispatcher;
mod kind;
mod signature;

pub use actor::{
    with_actor, GC as GC_ACTOR, RETENTION as RETENTION_ACTOR, UPSTREAM_EVICTION as UPSTREAM_EVICTION_ACTOR,
};
pub use config::{Endpoint, EventsConfig};
pub use dispatcher::{Dispatcher, DispatcherHandle};
pub use kind::EventKind;
pub use signature::{sign, SIGNATURE_HEADER};

pub(crate) use describe::describe;
