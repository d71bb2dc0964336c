//! Serving one connection, with the watchdog that closes it when it holds its slot
//! without using it: no first request within the header timeout, no next request within
//! the idle timeout, asked to make room (see `slots`), or idle when the server stops.

use super::activity::State;
use super::service::Tracked;
use super::slots::Slot;
use super::Limits;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use wharf_registry::auth::client_cert::VerifiedClientCertificate;

/// After the idle timeout, how long a connection asked to close gracefully (an HTTP/2
/// GOAWAY; an idle HTTP/1 connection closes at once) has before it is dropped.
const GRACE: Duration = Duration::from_secs(1);

/// Serves `stream` (TCP, or TLS after its handshake, with the client certificate it
/// verified) until it closes or the watchdog closes it.
pub async fn serve<S>(
    stream: S,
    remote: SocketAddr,
    client: Option<VerifiedClientCertificate>,
    app: axum::Router,
    limits: Limits,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = slot.activity.clone();
    let builder = super::protocol::builder();
    let service = Tracked {
        app,
        remote,
        client,
        activity: activity.clone(),
    };
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let mut stopping = false;
    let mut graceful_until = None;
    // When the connection is to be closed if it stays idle: `None` while busy.
    let deadline_of = |state: State, graceful_until: Option<Instant>| match state {
        State::Busy => None,
        State::Idle { since, served } => Some(graceful_until.unwrap_or_else(|| {
            Instant::from_std(since)
                + if served {
                    limits.idle_timeout
                } else {
                    limits.header_timeout
                }
        })),
    };
    loop {
        let state = activity.state();
        // Once the server stops, an idle connection has nothing left to finish.
        if stopping && state != State::Busy {
            return;
        }
        let deadline = deadline_of(state, graceful_until);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!("connection from {remote} ended: {e}");
                }
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = activity.changed.notified() => {}
            _ = activity.evict.notified() => match activity.state() {
                State::Idle { .. } => {
                    tracing::debug!("closed the idle connection from {remote} to make room for a new one");
                    return;
                }
                State::Busy => activity.eviction_refused(),
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let state = activity.state();
                if deadline_of(state, graceful_until).is_none_or(|d| d > Instant::now()) {
                    continue;
                }
                match state {
                    State::Idle { served: false, .. } => {
                        tracing::debug!(
                            "closed the connection from {remote}: no request within {:?}",
                            limits.header_timeout
                        );
                        return;
                    }
                    State::Idle { .. } if graceful_until.is_none() => {
                        connection.as_mut().graceful_shutdown();
                        graceful_until = Some(Instant::now() + GRACE);
                    }
                    _ => return,
                }
            }
        }
    }
}
