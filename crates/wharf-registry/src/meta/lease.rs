//! Upload sessions' leases: the lock that makes requests on one session run one at a
//! time across processes (replicas sharing a database), as the registry's in-process
//! lock does within one.
//!
//! A request that appends to, finishes or cancels a session first takes its lease,
//! for a fresh holder id, for a short time it renews while it works; it appends and
//! records the new offset only as the lease's holder ([`super::MetaStore::advance_leased_upload`]
//! checks the holder in the same statement as the offset), then releases it. A request
//! on another replica that finds the lease taken says it wants it (the holder's
//! renewal learns so, and gives a stalled body up, as a newer request on the same
//! replica makes it) and waits. A lease whose holder stopped renewing (its process
//! died) lapses after its time, so a crashed replica blocks a session only that long.

use std::time::Duration;

/// How an attempt to take a session's lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAttempt {
    /// The caller holds it now (also when there is no such session: the caller finds
    /// that out when it reads the session).
    Taken,
    /// Another holder has it and has renewed it within its time; the store recorded
    /// that someone waits for it.
    Busy,
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRenewal {
    /// Still the caller's, for another `ttl`; `wanted`: a request elsewhere waits for it.
    Kept { wanted: bool },
    /// No longer the caller's: it lapsed and another took it, or the session is gone.
    Lost,
}

/// How long a lease lasts without renewal: what a crashed replica costs a session.
pub const LEASE_TTL: Duration = Duration::from_secs(6);
