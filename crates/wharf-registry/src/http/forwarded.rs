//! The client's address behind reverse proxies (`trusted_proxies`): the failed-login
//! limit counts per client address, and behind a load balancer every request's TCP peer
//! is the balancer, so one client's failures would lock every client out.
//!
//! A proxy says whom it serves in `X-Forwarded-For`, appending the address of its own
//! peer to whatever list the request already carried. Only the entries added by proxies
//! wharf trusts are facts; anything further left was written by whoever sent the
//! request and may be made up. So the header is read **only when the TCP peer is a
//! trusted proxy** (from anyone else it would let a client pick its own address, and so
//! dodge the limit or lock someone else out), and it is read **from the right**: each
//! entry that is itself a trusted proxy was added by the proxy in front of it, and the
//! first one that is not is the address the outermost trusted proxy saw, the client.
//! Entries left of it are ignored, whatever they say.
//!
//! When the peer is trusted but the header is missing, or the walk reaches an entry
//! that is not an address before finding the client, the peer's own address is the
//! client's (the proxy said nothing usable). When every entry is a trusted proxy, the
//! left-most is the client (a request sent from a proxy's own host).

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// The header a proxy lists the addresses it forwards for in, the farthest first.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The proxies whose `X-Forwarded-For` is believed: IP addresses and CIDR networks. The
/// empty list (the default) believes none: the client is always the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses entries such as `127.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`; the error
    /// names the first entry that is neither an address nor a network.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let networks = entries
            .iter()
            .map(|entry| parse_entry(entry.as_ref().trim()))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `address` is one of the trusted proxies (an IPv4 address given as an
    /// IPv4-mapped IPv6 one, as a dual-stack socket reports it, counts as itself).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks.iter().any(|network| network.contains(&address))
    }

    /// The client's address for a request from `peer` with `headers` (see the module's
    /// doc): `peer` itself unless it is a trusted proxy that forwarded a usable one.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut farthest_trusted = None;
        // Every `X-Forwarded-For` line, in order, as one list (RFC 9110 §5.3).
        let lines: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|line| line.to_str().unwrap_or(""))
            .collect();
        for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match parse_forwarded_address(entry) {
                Some(address) if self.contains(address) => farthest_trusted = Some(address),
                Some(client) => return client,
                None => return peer,
            }
        }
        farthest_trusted.unwrap_or(peer)
    }
}

/// An address (`127.0.0.1`, `::1`) as the one-address network, or a CIDR network.
fn parse_entry(entry: &str) -> Result<IpNet, String> {
    match IpAddr::from_str(entry) {
        Ok(address) => Ok(IpNet::from(address.to_canonical())),
        Err(_) => IpNet::from_str(entry).map(|network| network.trunc()).map_err(|_| {
            format!("trusted_proxies: {entry:?} is neither an IP address nor a network such as 10.0.0.0/8")
        }),
    }
}

/// One `X-Forwarded-For` entry: an address, also with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`) or in brackets, as some proxies write it.
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(address) = IpAddr::from_str(entry) {
        return Some(address.to_canonical());
    }
    if let Ok(socket) = SocketAddr::from_str(entry) {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    IpAddr::from_str(bracketed).ok().map(|address| address.to_canonical())
}

/// `routes` with the client's address resolved for everything inside: a request's
/// `ConnectInfo<SocketAddr>` (its TCP peer) is replaced by the client's address as
/// [`TrustedProxies::client_address`] works it out, so the failed-login limit counts
/// per client behind the proxies. An empty list returns `routes` as they were.
pub fn with_trusted_proxies(routes: Router, trusted: TrustedProxies) -> Router {
    if trusted.is_empty() {
        return routes;
    }
    routes.layer(axum::middleware::from_fn_with_state(Arc::new(trusted), resolve_client))
}

async fn resolve_client(State(trusted): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = trusted.client_address(peer.ip(), request.headers());
        if client != peer.ip() {
            // The port is the peer's: the proxy forwarded no port of the client's.
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, line.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_are_addresses_or_networks_and_anything_else_is_refused_by_name() {
        let list = trusted(&["127.0.0.1", " 10.0.0.0/8 ", "::1", "fd00::/8", "192.168.1.7/16"]);
        for inside in ["127.0.0.1", "10.200.3.4", "::1", "fd12::5", "192.168.200.1"] {
            assert!(list.contains(ip(inside)), "{inside}");
        }
        for outside in ["127.0.0.2", "11.0.0.1", "::2", "fe80::1", "192.169.0.1"] {
            assert!(!list.contains(ip(outside)), "{outside}");
        }
        for bad in ["", "localhost", "10.0.0.0/33", "1.2.3", "10.0.0.0/8/8"] {
            let error = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(
                error.contains("trusted_proxies") && error.contains(&format!("{bad:?}")),
                "{error}"
            );
        }
        assert!(TrustedProxies::parse::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn an_ipv4_mapped_peer_counts_as_its_ipv4_address() {
        assert!(trusted(&["127.0.0.1"]).contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn the_header_of_a_peer_that_is_not_trusted_is_ignored() {
        let list = trusted(&["10.0.0.1"]);
        assert_eq!(
            list.client_address(ip("192.0.2.9"), &forwarded(&["203.0.113.5"])),
            ip("192.0.2.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.0.0.1"), &forwarded(&["203.0.113.5"])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_one_trusted_proxy_the_client_is_the_right_most_entry() {
        let list = trusted(&["10.0.0.1"]);
        assert_eq!(
            list.client_address(ip("10.0.0.1"), &forwarded(&["203.0.113.5"])),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn entries_a_client_made_up_left_of_the_proxys_are_ignored() {
        let list = trusted(&["10.0.0.0/8"]);
        // The client sent "127.0.0.1, 10.0.0.1" itself; the proxy appended its real address.
        let headers = forwarded(&["127.0.0.1, 10.0.0.1, 203.0.113.5"]);
        assert_eq!(list.client_address(ip("10.0.0.1"), &headers), ip("203.0.113.5"));
        // Garbage left of the client is never reached.
        let headers = forwarded(&["not-an-address, 203.0.113.5"]);
        assert_eq!(list.client_address(ip("10.0.0.1"), &headers), ip("203.0.113.5"));
    }

    #[test]
    fn trusted_proxies_in_the_chain_are_walked_past_from_the_right() {
        let list = trusted(&["10.0.0.0/8"]);
        let headers = forwarded(&["198.51.100.1, 203.0.113.5, 10.0.0.7, 10.0.0.8"]);
        assert_eq!(list.client_address(ip("10.0.0.1"), &headers), ip("203.0.113.5"));
        // The same list over several header lines.
        let headers = forwarded(&["198.51.100.1, 203.0.113.5", "10.0.0.7", "10.0.0.8"]);
        assert_eq!(list.client_address(ip("10.0.0.1"), &headers), ip("203.0.113.5"));
    }

    #[test]
    fn when_every_entry_is_a_trusted_proxy_the_left_most_is_the_client() {
        let list = trusted(&["10.0.0.0/8"]);
        let headers = forwarded(&["10.0.0.5, 10.0.0.7"]);
        assert_eq!(list.client_address(ip("10.0.0.1"), &headers), ip("10.0.0.5"));
    }

    #[test]
    fn ipv6_entries_with_or_without_ports_and_brackets_are_read() {
        let list = trusted(&["fd00::/8", "10.0.0.1"]);
        for (line, client) in [
            ("2001:db8::7", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("[2001:db8::7]:4711, fd00::1", "2001:db8::7"),
            ("203.0.113.5:4711", "203.0.113.5"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
        ] {
            assert_eq!(
                list.client_address(ip("fd00::2"), &forwarded(&[line])),
                ip(client),
                "{line}"
            );
        }
    }

    #[test]
    fn a_missing_or_unusable_header_leaves_the_peers_address() {
        let list = trusted(&["10.0.0.1", "10.0.0.2"]);
        let peer = ip("10.0.0.1");
        assert_eq!(list.client_address(peer, &HeaderMap::new()), peer);
        for garbage in [
            "",
            " , ",
            "unknown",
            "203.0.113.5 junk",
            "300.1.1.1",
            "203.0.113.5, _hidden",
        ] {
            assert_eq!(list.client_address(peer, &forwarded(&[garbage])), peer, "{garbage:?}");
        }
        // Garbage right of a trusted hop: that hop's word cannot be taken further.
        assert_eq!(list.client_address(peer, &forwarded(&["junk, 10.0.0.2"])), peer);
        // Not even UTF-8.
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            http::HeaderValue::from_bytes(b"\xff203.0.113.5").unwrap(),
        );
        assert_eq!(list.client_address(peer, &headers), peer);
    }
}
