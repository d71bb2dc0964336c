//! The TLS layer of the listener: the handshake of a new connection, before hyper sees
//! it, and the client certificate it verified.
//!
//! The handshake counts against the header timeout (the connection's clock starts when
//! it is accepted), so a client that connects and sends nothing, or stops halfway
//! through the handshake, holds its slot no longer than one that sends no request. It is
//! also given up when the slot is wanted for another connection, or the server stops.
//! A client that speaks plain HTTP to the TLS port fails the handshake at its first
//! bytes and is closed at once.

use super::activity::Activity;
use crate::tls::subject::subject_name;
use crate::tls::ServerTls;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use wharf_registry::auth::client_cert::VerifiedClientCertificate;

/// A connection whose handshake completed, with its verified client certificate's
/// subject if it presented one.
pub struct Secured {
    pub stream: TlsStream<TcpStream>,
    pub client: Option<VerifiedClientCertificate>,
}

/// Runs the handshake on `stream`, for at most `within`; `None` when it failed, timed
/// out, or was given up (the reason is logged at debug level: failed handshakes are
/// the client's business, and a scanner would fill the log).
pub async fn handshake(
    tls: &ServerTls,
    stream: TcpStream,
    remote: SocketAddr,
    within: Duration,
    activity: &Activity,
    stop: &mut watch::Receiver<bool>,
) -> Option<Secured> {
    let accepting = tokio::time::timeout(within, tls.acceptor().accept(stream));
    let stream = tokio::select! {
        accepted = accepting => match accepted {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!("TLS handshake with {remote} failed: {e}");
                return None;
            }
            Err(_) => {
                tracing::debug!("closed the connection from {remote}: no TLS handshake within {within:?}");
                return None;
            }
        },
        _ = activity.evict.notified() => {
            tracing::debug!("closed the connection from {remote} mid-handshake to make room for a new one");
            return None;
        }
        _ = stop.wait_for(|stop| *stop) => return None,
    };
    let client = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| match subject_name(cert) {
            Some(subject) => Some(VerifiedClientCertificate { subject }),
            None => {
                tracing::warn!(
                    "the client certificate of {remote} names no one (no CN, DNS name or e-mail): it signs in no one"
                );
                None
            }
        });
    Some(Secured { stream, client })
}
