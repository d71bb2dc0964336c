//! `wharf serve`'s HTTP listener: accepts connections up to a cap and serves each with
//! hyper (HTTP/1.1, and HTTP/2 with prior knowledge or, over TLS, by ALPN), closing
//! those that keep a slot without using it. With TLS, each connection's handshake comes
//! first ([`tls`]), within the header timeout.
//!
//! A connection holds a file descriptor and a slot from the moment it is accepted, before
//! any authentication, so the listener bounds what a client can hold without sending
//! requests (see [`Limits`]): a connection must send its first request's headers within
//! `header_timeout` of being accepted, and a connection with no request in progress is
//! closed `idle_timeout` after its last response. Neither applies while a request is in
//! progress (slow request bodies have the registry's own body timeout).
//!
//! hyper's own `http1::Builder::header_read_timeout` is not used: its timer starts
//! whenever an HTTP/1 connection waits for a request head, so it also bounds the
//! keep-alive idle time (the two cannot differ), and it does not run while the
//! version-detecting builder reads a connection's first bytes, nor at all for HTTP/2.
//! The watchdog of [`connection`] covers both protocols from the accept on.
//!
//! When every slot is taken, the connection that has waited longest without a request in
//! progress is closed to make room for the new one, so a crowd of silent or trickling
//! connections cannot lock out a client that sends a request at once; when every
//! connection is serving a request, new connections wait in the kernel's accept queue.

mod activity;
mod connection;
mod open_files;
mod protocol;
mod service;
mod slots;
mod tls;

pub use open_files::raise_open_file_limit;

use crate::tls::ServerTls;
use slots::Slots;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What a connection may hold without using it, and how many may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A new connection must have sent its first request's headers within this time.
    pub header_timeout: Duration,
    /// A connection with no request in progress is closed this long after its last
    /// response (the next request's headers must have arrived by then).
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` (over TLS with `tls`) until `stop` turns true, then stops
/// accepting (new connections are refused), lets the requests in progress finish,
/// closes idle connections at once, and returns when every connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
    stop: watch::Receiver<bool>,
) {
    let slots = Slots::new(limits.max_connections);
    let mut accept_errors = AcceptErrors::default();
    let mut stopping = stop.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_errors.pause_after(e).await;
                continue;
            }
        };
        let slot = tokio::select! {
            slot = slots.take() => slot,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let (app, mut stop) = (app.clone(), stop.clone());
        match &tls {
            None => {
                tokio::spawn(connection::serve(stream, remote, None, app, limits, slot, stop));
            }
            Some(tls) => {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let activity = slot.activity.clone();
                    let within = limits.header_timeout;
                    if let Some(secured) = tls::handshake(&tls, stream, remote, within, &activity, &mut stop).await {
                        connection::serve(secured.stream, remote, secured.client, app, limits, slot, stop).await;
                    }
                });
            }
        }
    }
    drop(listener);
    slots.all_returned().await;
}

/// What to do when `accept` fails: a connection reset before it was accepted is no
/// error; anything else (typically EMFILE, out of file descriptors) is logged, at most
/// every ten seconds, and accepting pauses briefly so that the loop does not spin.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
}

impl AcceptErrors {
    async fn pause_after(&mut self, e: io::Error) {
        use io::ErrorKind::*;
        if matches!(e.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused) {
            return;
        }
        if self.last_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            tracing::error!("cannot accept connections: {e}");
            self.last_logged = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
