//! The failed-login limit as a port: whatever counts failed logins per client address
//! implements [`LoginLimits`]. Two adapters come with wharf:
//! - [`LoginThrottle`](super::throttle::LoginThrottle): counts in this process (the
//!   default). Each replica behind a load balancer counts on its own, so N replicas
//!   allow N times the limit between them.
//! - `PostgresLoginLimits` (`meta`, with the `postgres` feature): counts in the
//!   PostgreSQL database the replicas share, so the limit holds for all of them together.
//!
//! The contract every adapter keeps, per client address:
//! - an attempt takes a place *before* its (slow) password check, so guesses sent at
//!   once are held to the limit as surely as guesses sent one after another;
//! - the failures counted plus the checks in flight never exceed `max_failures` within
//!   a window; once the failures alone reach it, attempts are refused
//!   ([`Refused::TooMany`]) until the window has passed;
//! - a success gives its place back but forgives no failure: knowing one password must
//!   not buy more guesses at another;
//! - counted per address, not per user, so nobody can lock another person out of their
//!   account. `None` is a client whose address is unknown: all such share one count.
//!
//! An adapter that cannot consult its count (a shared database that is unreachable)
//! answers [`Refused::Unavailable`] rather than letting the login through unlimited:
//! the HTTP layer answers 503.

use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why an attempt got no place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The address failed too often: it may try again after this long (answered 429
    /// TOOMANYREQUESTS with `Retry-After`).
    TooMany(Duration),
    /// The count could not be consulted (why, for the log): the login is refused, not
    /// let through unlimited (answered 503).
    Unavailable(String),
}

/// Counts failed logins per client address (see the module's contract).
#[async_trait]
pub trait LoginLimits: Send + Sync {
    /// Takes a place for one login attempt of `client`, waiting while the places are
    /// held by checks in flight (one of them may succeed and give its place back).
    async fn attempt(&self, client: Option<IpAddr>) -> Result<Attempt, Refused>;
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password was wrong: a failure is counted in the place taken.
    Failed,
    /// The password was right: the place is given back.
    Succeeded,
}

/// An adapter's record of one place taken; [`Attempt`] says how it ended.
#[async_trait]
pub trait Place: Send {
    /// Records `outcome`; done when this returns, so that the next attempt of the same
    /// client (on any replica) sees it.
    async fn finish(self: Box<Self>, outcome: Outcome);

    /// Gives the place back without counting a failure (the attempt was dropped: the
    /// request was cancelled, or the check could not be made). Called from `Drop`, so
    /// it must not block; an adapter that needs I/O spawns it.
    fn abandon(self: Box<Self>);
}

/// A place taken for one login attempt. Say how it ended with [`Attempt::failed`] or
/// [`Attempt::succeeded`]; dropped without either, it gives its place back without
/// counting a failure.
pub struct Attempt {
    place: Option<Box<dyn Place>>,
}

impl Attempt {
    /// An attempt holding `place` (for adapters).
    pub fn new(place: Box<dyn Place>) -> Attempt {
        Attempt { place: Some(place) }
    }

    /// The password was wrong: counts a failure in the place taken.
    pub async fn failed(mut self) {
        if let Some(place) = self.place.take() {
            place.finish(Outcome::Failed).await;
        }
    }

    /// The password was right: gives the place back.
    pub async fn succeeded(mut self) {
        if let Some(place) = self.place.take() {
            place.finish(Outcome::Succeeded).await;
        }
    }
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt").field("open", &self.place.is_some()).finish()
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(place) = self.place.take() {
            place.abandon();
        }
    }
}

/// Warns once per `warned` flag that clients without a known address share one count.
pub(crate) fn warn_if_address_unknown(client: Option<IpAddr>, warned: &AtomicBool) {
    if client.is_none() && !warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "the registry does not know its clients' addresses, so failed logins are counted for all \
             clients together (one client's failures lock every client out for the window): serve the \
             router with into_make_service_with_connect_info::<SocketAddr>()"
        );
    }
}
