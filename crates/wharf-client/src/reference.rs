//! Image references as docker and oras write them: `HOST[:PORT]/REPO[:TAG|@DIGEST]`.
//!
//! The first segment is a registry host when it has a `.` or a `:` or is `localhost`;
//! otherwise the reference is on Docker Hub (`docker.io`), where one-segment names live
//! under `library/`. A reference with both a tag and a digest is pinned by the digest.

use crate::error::Error;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use wharf_oci::{Digest, Reference, RepositoryName, Tag};

/// Docker Hub's canonical name, and the host its API actually answers on.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A repository on a registry: `host[:port]/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// `host[:port]` as the user wrote it (`docker.io` for Docker Hub).
    pub registry: String,
    pub name: RepositoryName,
}

impl Repository {
    pub fn new(registry: impl Into<String>, name: RepositoryName) -> Repository {
        Repository {
            registry: registry.into(),
            name,
        }
    }

    /// The same registry, another repository.
    pub fn sibling(&self, name: RepositoryName) -> Repository {
        Repository::new(self.registry.clone(), name)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// A parsed `HOST[:PORT]/REPO[:TAG|@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    pub repository: Repository,
    pub tag: Option<Tag>,
    pub digest: Option<Digest>,
}

impl ImageReference {
    /// The manifest reference to fetch: the digest if pinned, else the tag, else `latest`.
    pub fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            (None, None) => Reference::Tag("latest".parse().expect("latest is a valid tag")),
        }
    }

    /// The reference with neither tag nor digest given, e.g. for `tags REPO`.
    pub fn is_bare(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    pub fn registry(&self) -> &str {
        &self.repository.registry
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageReference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| Error::InvalidReference {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(invalid("it is empty".into()));
        }
        // `http://host/repo` or `docker://host/repo`: a URL or a transport, not a reference.
        if let Some((scheme, rest)) = input.split_once("://") {
            if !scheme.is_empty() && !scheme.contains(['/', '@']) {
                return Err(invalid(format!("a reference has no scheme: write {rest:?}")));
            }
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>().map_err(|e| invalid(e.to_string()))?)),
            None => (input, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if is_registry_host(first) => {
                if !is_valid_host(first) {
                    return Err(invalid(format!(
                        "{first:?} is not a registry host: use HOST[:PORT] with letters, digits, '-' and '.', or [IPv6]"
                    )));
                }
                (first.to_string(), path)
            }
            _ => (DOCKER_HUB.to_string(), rest),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to the host.
        let (path, tag) = match path.rfind(':') {
            Some(at) if !path[at..].contains('/') => {
                let tag = path[at + 1..].parse::<Tag>().map_err(|e| invalid(e.to_string()))?;
                (&path[..at], Some(tag))
            }
            _ => (path, None),
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let name = path.parse::<RepositoryName>().map_err(|e| invalid(e.to_string()))?;
        Ok(ImageReference {
            repository: Repository::new(registry, name),
            tag,
            digest,
        })
    }
}

fn is_registry_host(segment: &str) -> bool {
    segment.contains('.') || segment.contains(':') || segment == "localhost" || segment.starts_with('[')
}

/// `host[:port]` as docker's reference grammar has it: dot-separated labels of letters,
/// digits and inner `-`, or an IPv6 address in brackets, and an optional numeric port.
/// Nothing else may go into a request URL's authority.
fn is_valid_host(segment: &str) -> bool {
    let (host, port) = if let Some(rest) = segment.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match segment.split_once(':') {
            Some((host, port)) => (host, port),
            None => (segment, "0"),
        }
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    port_ok && (segment.starts_with('[') || host.split('.').all(label_ok))
}

/// The host to send API requests to for a registry as the user named it.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB || registry == "index.docker.io" {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// Whether a registry is on this machine, where plain HTTP is what users run:
/// `localhost` and the loopback addresses (127.0.0.0/8, ::1), with any port.
pub fn is_loopback(registry: &str) -> bool {
    let host = host_part(registry);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host` of `host[:port]`, `[v6]:port` included.
fn host_part(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageReference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn registry_port_repo_and_tag() {
        let r = parse("127.0.0.1:5000/org/app:v1");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository.name.as_str(), "org/app");
        assert_eq!(r.tag.as_ref().unwrap().as_str(), "v1");
        assert_eq!(r.reference().to_string(), "v1");
        assert_eq!(r.to_string(), "127.0.0.1:5000/org/app:v1");
    }

    #[test]
    fn a_port_is_not_a_tag() {
        let r = parse("localhost:5000/app");
        assert_eq!(r.registry(), "localhost:5000");
        assert!(r.tag.is_none());
        assert_eq!(r.reference().to_string(), "latest");
        assert!(r.is_bare());
    }

    #[test]
    fn digest_pins_even_with_a_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("ghcr.io/o/a:v2@{d}"));
        assert_eq!(r.reference().to_string(), d);
        assert_eq!(r.tag.unwrap().as_str(), "v2");
    }

    #[test]
    fn docker_hub_names() {
        let r = parse("alpine:3");
        assert_eq!(r.registry(), DOCKER_HUB);
        assert_eq!(r.repository.name.as_str(), "library/alpine");
        assert_eq!(api_host(r.registry()), "registry-1.docker.io");
        let r = parse("user/tool");
        assert_eq!(r.repository.name.as_str(), "user/tool");
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "",
            "127.0.0.1:5000/App",
            "host.io/app:-bad",
            "host.io/app@sha256:12",
            "host.io/",
        ] {
            assert!(bad.parse::<ImageReference>().is_err(), "{bad}");
        }
        for url in ["http://127.0.0.1:5000/app:1", "docker://host.io/app"] {
            let message = url.parse::<ImageReference>().unwrap_err().to_string();
            let without = url.split_once("://").unwrap().1;
            assert!(
                message.contains(&format!("has no scheme: write {without:?}")),
                "{message}"
            );
        }
    }

    /// Found by fuzzing (issue 19): the host was taken as written, so characters that
    /// mean something in a URL (`?`, `#`, `\\`, a space) went into the request URL.
    #[test]
    fn refuses_hosts_that_are_not_host_names() {
        for bad in [
            "a\\.a/a",
            "evil.com?x/app",
            "evil.com#x/app",
            "ex ample.com/app",
            "host.io:abc/app",
            "host.io:/app",
            ".io/app",
            "a..io/app",
            "-a.io/app",
            "a-.io/app",
            "[::1/app",
            "[zz]:5000/app",
            "[::1]x/app",
        ] {
            assert!(bad.parse::<ImageReference>().is_err(), "{bad:?} was accepted");
        }
        for good in [
            "a-b.io/app",
            "A.io/app",
            "[::1]/app",
            "[::1]:5000/app",
            "127.0.0.1/app",
            "localhost/app",
        ] {
            parse(good);
        }
    }

    #[test]
    fn loopback_registries() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.8.9.1",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1:5000", "ghcr.io", "localhost.example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
