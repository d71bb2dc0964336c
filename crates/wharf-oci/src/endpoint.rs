//! The `/v2/` API paths, parsed once into a typed [`Endpoint`].
//!
//! A repository name may have any number of `/` segments, so the path is read from its
//! end: the last segments say which resource it is, everything before them is the name.
//! The same type prints paths back ([`Endpoint::path`]), so the server and the client
//! cannot disagree on the grammar.

use crate::digest::{Digest, DigestError};
use crate::name::{NameError, Reference, RepositoryName};
use percent_encoding::percent_decode_str;

/// Longest upload session id accepted in a path.
const MAX_SESSION_ID_LEN: usize = 128;

/// One resource of the distribution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/` (end-1)
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/blobs/<digest>` (end-2, end-10)
    Blob { name: RepositoryName, digest: Digest },
    /// `/v2/<name>/blobs/uploads/` (end-4, end-11)
    UploadStart { name: RepositoryName },
    /// `/v2/<name>/blobs/uploads/<session>` (end-5, end-6, end-13, end-14)
    Upload { name: RepositoryName, session: String },
    /// `/v2/<name>/manifests/<reference>` (end-3, end-7, end-9)
    Manifest { name: RepositoryName, reference: Reference },
    /// `/v2/<name>/tags/list` (end-8)
    Tags { name: RepositoryName },
    /// `/v2/<name>/referrers/<digest>` (end-12)
    Referrers { name: RepositoryName, digest: Digest },
}

/// The kind of resource a path under a repository addresses, by the word that names it
/// (`blobs`, `blobs/uploads`, `manifests`, `referrers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Blob,
    Upload,
    Manifest,
    Referrers,
}

/// Why a path is not a valid API endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("no such endpoint: {0}")]
    NotFound(String),
    /// A valid repository name and a resource word followed by something that cannot
    /// name one of its resources (`/v2/a/blobs/sha256:../../x`, a tag with a `/`): the
    /// answer is the resource's own error, not that the repository is unknown.
    #[error("{rest:?} cannot name a {resource:?} resource")]
    Unaddressable { resource: Resource, rest: String },
    #[error(transparent)]
    Name(NameError),
    #[error(transparent)]
    Reference(NameError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("upload session id {0:?} is not one this registry issues")]
    Session(String),
}

/// `Some(name)` of an endpoint that addresses a repository, `None` otherwise: the one
/// list of those variants, for [`Endpoint::name`] and [`Endpoint::name_mut`] (the
/// reference or mutable reference follows from the endpoint's).
macro_rules! repository_of {
    ($endpoint:expr) => {
        match $endpoint {
            Endpoint::Base | Endpoint::Catalog => None,
            Endpoint::Blob { name, .. }
            | Endpoint::UploadStart { name }
            | Endpoint::Upload { name, .. }
            | Endpoint::Manifest { name, .. }
            | Endpoint::Tags { name }
            | Endpoint::Referrers { name, .. } => Some(name),
        }
    };
}

impl Endpoint {
    /// Parses the path of a request (without its query string).
    pub fn parse(path: &str) -> Result<Endpoint, EndpointError> {
        let not_found = || EndpointError::NotFound(truncate(path));
        let rest = path.strip_prefix("/v2").ok_or_else(not_found)?;
        if rest.is_empty() || rest == "/" {
            return Ok(Endpoint::Base);
        }
        let rest = rest.strip_prefix('/').ok_or_else(not_found)?;
        if rest == "_catalog" {
            return Ok(Endpoint::Catalog);
        }
        let segments: Vec<&str> = rest.split('/').collect();
        let n = segments.len();
        let name_of = |len: usize| -> Result<RepositoryName, EndpointError> {
            if len == 0 {
                return Err(not_found());
            }
            segments[..len].join("/").parse().map_err(EndpointError::Name)
        };
        let last = decoded(segments[n - 1]);

        if n >= 3 && segments[n - 2] == "tags" && segments[n - 1] == "list" {
            return Ok(Endpoint::Tags { name: name_of(n - 2)? });
        }
        if n >= 3 && segments[n - 3] == "blobs" && segments[n - 2] == "uploads" {
            let name = name_of(n - 3)?;
            if last.is_empty() {
                return Ok(Endpoint::UploadStart { name });
            }
            return Ok(Endpoint::Upload {
                name,
                session: parse_session(&last)?,
            });
        }
        if n >= 2 {
            match segments[n - 2] {
                "blobs" if last == "uploads" => return Ok(Endpoint::UploadStart { name: name_of(n - 2)? }),
                "blobs" => {
                    let name = name_of(n - 2)?;
                    return Ok(Endpoint::Blob {
                        name,
                        digest: last.parse()?,
                    });
                }
                "manifests" => {
                    let name = name_of(n - 2)?;
                    let reference = last.parse().map_err(|e| match e {
                        NameError::InvalidDigest(d) => EndpointError::Digest(d),
                        other => EndpointError::Reference(other),
                    })?;
                    return Ok(Endpoint::Manifest { name, reference });
                }
                "referrers" => {
                    let name = name_of(n - 2)?;
                    return Ok(Endpoint::Referrers {
                        name,
                        digest: last.parse()?,
                    });
                }
                _ => {}
            }
        }
        Err(unaddressable(&segments).unwrap_or_else(not_found))
    }

    /// The repository the endpoint addresses, if any.
    pub fn name(&self) -> Option<&RepositoryName> {
        repository_of!(self)
    }

    /// The repository the endpoint addresses, to change it (a mirror's `?ns=` puts the
    /// upstream's prefix in front), if any.
    pub fn name_mut(&mut self) -> Option<&mut RepositoryName> {
        repository_of!(self)
    }

    /// A short name of the kind of endpoint, without the repository or reference: the
    /// low-cardinality label of metrics and logs (`base`, `catalog`, `blob`,
    /// `upload_start`, `upload`, `manifest`, `tags`, `referrers`).
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Base => "base",
            Endpoint::Catalog => "catalog",
            Endpoint::Blob { .. } => "blob",
            Endpoint::UploadStart { .. } => "upload_start",
            Endpoint::Upload { .. } => "upload",
            Endpoint::Manifest { .. } => "manifest",
            Endpoint::Tags { .. } => "tags",
            Endpoint::Referrers { .. } => "referrers",
        }
    }

    /// The path of this endpoint, as a client sends it and a `Location` header names it.
    pub fn path(&self) -> String {
        match self {
            Endpoint::Base => "/v2/".to_string(),
            Endpoint::Catalog => "/v2/_catalog".to_string(),
            Endpoint::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
            Endpoint::UploadStart { name } => format!("/v2/{name}/blobs/uploads/"),
            Endpoint::Upload { name, session } => format!("/v2/{name}/blobs/uploads/{session}"),
            Endpoint::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
            Endpoint::Tags { name } => format!("/v2/{name}/tags/list"),
            Endpoint::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
        }
    }
}

/// The resource a path that matched no endpoint still addresses: the last resource word
/// (read from the end, as [`Endpoint::parse`] reads) with something after it; an invalid
/// name before it is reported as such, as on every endpoint.
fn unaddressable(segments: &[&str]) -> Option<EndpointError> {
    (1..segments.len().saturating_sub(1)).rev().find_map(|i| {
        let (resource, rest_from) = match segments[i] {
            "uploads" if i >= 2 && segments[i - 1] == "blobs" => (Resource::Upload, i + 1),
            "blobs" => (Resource::Blob, i + 1),
            "manifests" => (Resource::Manifest, i + 1),
            "referrers" => (Resource::Referrers, i + 1),
            _ => return None,
        };
        let name_len = if resource == Resource::Upload { i - 1 } else { i };
        if name_len == 0 {
            return None;
        }
        if let Err(e) = segments[..name_len].join("/").parse::<RepositoryName>() {
            return Some(EndpointError::Name(e));
        }
        Some(EndpointError::Unaddressable {
            resource,
            rest: truncate(&decoded(&segments[rest_from..].join("/"))),
        })
    })
}

/// Session ids are opaque to clients but always of `[A-Za-z0-9_-]`, so a path holding
/// anything else cannot name one.
fn parse_session(s: &str) -> Result<String, EndpointError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SESSION_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(EndpointError::Session(truncate(s)))
    }
}

/// The last segment may arrive percent-encoded (`sha256%3A…`); names never are.
fn decoded(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    #[test]
    fn parses_every_endpoint() {
        assert_eq!(Endpoint::parse("/v2/").unwrap(), Endpoint::Base);
        assert_eq!(Endpoint::parse("/v2").unwrap(), Endpoint::Base);
        assert_eq!(Endpoint::parse("/v2/_catalog").unwrap(), Endpoint::Catalog);
        let d = digest();
        for (path, expected_name) in [
            (format!("/v2/a/b/c/blobs/{d}"), "a/b/c"),
            (format!("/v2/a/manifests/{d}"), "a"),
            ("/v2/org/app/manifests/latest".to_string(), "org/app"),
            ("/v2/org/app/tags/list".to_string(), "org/app"),
            ("/v2/org/app/blobs/uploads/".to_string(), "org/app"),
            ("/v2/org/app/blobs/uploads/abc-123".to_string(), "org/app"),
            (format!("/v2/x/referrers/{d}"), "x"),
        ] {
            let mut e = Endpoint::parse(&path).unwrap();
            assert_eq!(e.name().unwrap().as_str(), expected_name, "{path}");
            assert_eq!(e.path(), path);
            *e.name_mut().unwrap() = format!("up/{expected_name}").parse().unwrap();
            assert_eq!(e.path(), path.replacen("/v2/", "/v2/up/", 1));
        }
        assert!(Endpoint::Base.name_mut().is_none() && Endpoint::Catalog.name_mut().is_none());
    }

    #[test]
    fn names_may_contain_resource_words() {
        let e = Endpoint::parse("/v2/a/manifests/b/manifests/latest").unwrap();
        assert_eq!(e.name().unwrap().as_str(), "a/manifests/b");
        let e = Endpoint::parse("/v2/tags/list/tags/list").unwrap();
        assert_eq!(
            e,
            Endpoint::Tags {
                name: "tags/list".parse().unwrap()
            }
        );
    }

    #[test]
    fn refuses_bad_paths() {
        let d = digest();
        assert!(matches!(Endpoint::parse("/v3/"), Err(EndpointError::NotFound(_))));
        assert!(matches!(Endpoint::parse("/v2/a"), Err(EndpointError::NotFound(_))));
        assert!(matches!(
            Endpoint::parse(&format!("/v2/blobs/{d}")),
            Err(EndpointError::NotFound(_))
        ));
        for bad in [
            format!("/v2/../blobs/{d}"),
            format!("/v2/a/%2e%2e/blobs/{d}"),
            format!("/v2/a%2fb/blobs/{d}"),
            format!("/v2//etc/blobs/{d}"),
            format!("/v2/A/blobs/{d}"),
        ] {
            assert!(matches!(Endpoint::parse(&bad), Err(EndpointError::Name(_))), "{bad}");
        }
        assert!(matches!(
            Endpoint::parse("/v2/a/blobs/sha256:xyz"),
            Err(EndpointError::Digest(_))
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/manifests/-bad"),
            Err(EndpointError::Reference(_))
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/manifests/sha256:1"),
            Err(EndpointError::Digest(_))
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/blobs/uploads/..%2f..%2fx"),
            Err(EndpointError::Session(_))
        ));
    }

    #[test]
    fn paths_past_a_resource_word_that_name_nothing_say_which_resource() {
        for (path, resource, rest) in [
            ("/v2/a/blobs/sha256:../../x", Resource::Blob, "sha256:../../x"),
            ("/v2/a/b/blobs/x/y", Resource::Blob, "x/y"),
            ("/v2/a/manifests/v1/extra", Resource::Manifest, "v1/extra"),
            ("/v2/a/manifests/sha256:%2e%2e/x", Resource::Manifest, "sha256:../x"),
            ("/v2/a/blobs/uploads/x/y", Resource::Upload, "x/y"),
            ("/v2/a/referrers/sha256:../x", Resource::Referrers, "sha256:../x"),
            // The last resource word counts, as the name may hold the others.
            ("/v2/a/manifests/b/blobs/c/d", Resource::Blob, "c/d"),
        ] {
            assert_eq!(
                Endpoint::parse(path),
                Err(EndpointError::Unaddressable {
                    resource,
                    rest: rest.to_string()
                }),
                "{path}"
            );
        }
        // No name before the word, or no resource word: no such endpoint.
        assert!(matches!(
            Endpoint::parse("/v2/A/blobs/x/y"),
            Err(EndpointError::Name(_))
        ));
        for path in ["/v2/blobs/x/y", "/v2/a/tags/x", "/v2/a/b"] {
            assert!(
                matches!(Endpoint::parse(path), Err(EndpointError::NotFound(_))),
                "{path}: {:?}",
                Endpoint::parse(path)
            );
        }
    }

    #[test]
    fn decodes_an_encoded_digest() {
        let d = digest();
        let e = Endpoint::parse(&format!("/v2/a/blobs/{}", d.replace(':', "%3A"))).unwrap();
        assert_eq!(
            e,
            Endpoint::Blob {
                name: "a".parse().unwrap(),
                digest: d.parse().unwrap()
            }
        );
    }
}
