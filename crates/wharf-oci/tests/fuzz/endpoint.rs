//! The typed endpoint parser: every path maps to one endpoint or is refused, never a
//! panic; what it yields prints back to a path that parses to the same endpoint; and
//! nothing it yields can leave a directory when used as a path.

use crate::gen::*;
use proptest::prelude::*;
use wharf_oci::{Endpoint, EndpointError, Reference};

/// The resource part that follows a name, valid or not.
fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        digest_like().prop_map(|d| format!("blobs/{d}")),
        digest_like().prop_map(|d| format!("blobs/{}", d.replace(':', "%3A"))),
        Just("blobs/uploads/".to_string()),
        Just("blobs/uploads".to_string()),
        "[A-Za-z0-9_-]{1,40}".prop_map(|s| format!("blobs/uploads/{s}")),
        mutate("[A-Za-z0-9_-]{1,10}".prop_map(|s| s)).prop_map(|s| format!("blobs/uploads/{s}")),
        prop::sample::select(vec![
            "..",
            "%2e%2e",
            "..%2f..%2fetc",
            "%2F",
            "a%00",
            "%zz",
            "%",
            "%C3%28"
        ])
        .prop_map(|s| format!("blobs/uploads/{s}")),
        any_reference().prop_map(|r| format!("manifests/{r}")),
        Just("tags/list".to_string()),
        digest_like().prop_map(|d| format!("referrers/{d}")),
        prop::sample::select(vec![
            "blobs",
            "manifests",
            "tags",
            "referrers",
            "",
            "list",
            "_catalog",
            ".."
        ])
        .prop_map(str::to_string),
        ".{0,20}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        4 => valid_name(),
        1 => mutate(valid_name()),
        1 => prop::sample::select(vec!["..", ".", "", "%2e%2e", "a/..", "../a", "a//b", "A"]).prop_map(str::to_string),
    ];
    prop_oneof![
        8 => (name, resource()).prop_map(|(n, r)| format!("/v2/{n}/{r}")),
        1 => mutate((valid_name(), resource()).prop_map(|(n, r)| format!("/v2/{n}/{r}"))),
        1 => prop::sample::select(vec!["/v2", "/v2/", "/v2/_catalog", "/v3/", "/v2//", "v2/", ""]).prop_map(str::to_string),
        1 => ".{0,40}",
    ]
}

/// What a correct parser must say about `path` when every part of it is well formed:
/// the endpoint built independently from its pieces.
fn expected(path: &str) -> Option<Endpoint> {
    let rest = path.strip_prefix("/v2/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let name = |k: usize| segments[..k].join("/").parse().ok();
    let last = percent_encoding::percent_decode_str(segments[n - 1])
        .decode_utf8()
        .ok()?
        .into_owned();
    if n >= 3 && segments[n - 2..] == ["tags", "list"] {
        return Some(Endpoint::Tags { name: name(n - 2)? });
    }
    if n >= 4 && segments[n - 3..n - 1] == ["blobs", "uploads"] {
        let name = name(n - 3)?;
        if last.is_empty() {
            return Some(Endpoint::UploadStart { name });
        }
        let ok = last.len() <= 128
            && last
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        return ok.then_some(Endpoint::Upload { name, session: last });
    }
    if n < 2 {
        return None;
    }
    match segments[n - 2] {
        "blobs" if last == "uploads" => Some(Endpoint::UploadStart { name: name(n - 2)? }),
        "blobs" => Some(Endpoint::Blob {
            name: name(n - 2)?,
            digest: last.parse().ok()?,
        }),
        "manifests" => Some(Endpoint::Manifest {
            name: name(n - 2)?,
            reference: last.parse().ok()?,
        }),
        "referrers" => Some(Endpoint::Referrers {
            name: name(n - 2)?,
            digest: last.parse().ok()?,
        }),
        _ => None,
    }
}

/// The contract of what an endpoint holds: names of the spec's grammar, digests of
/// lowercase hex, sessions of `[A-Za-z0-9_-]`: nothing that is `..`, absolute or
/// encoded.
fn holds_only_safe_parts(e: &Endpoint) -> Result<(), TestCaseError> {
    if let Some(name) = e.name() {
        prop_assert!(matches(SPEC_NAME, name.as_str()), "{name}");
        prop_assert!(!name.as_str().split('/').any(|s| s.is_empty() || s == "." || s == ".."));
    }
    let digest = match e {
        Endpoint::Blob { digest, .. } | Endpoint::Referrers { digest, .. } => Some(digest),
        Endpoint::Manifest {
            reference: Reference::Digest(d),
            ..
        } => Some(d),
        _ => None,
    };
    if let Some(d) = digest {
        prop_assert!(d
            .hex()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
    if let Endpoint::Upload { session, .. } = e {
        prop_assert!(!session.is_empty() && session.len() <= 128);
        prop_assert!(session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    if let Endpoint::Manifest {
        reference: Reference::Tag(t),
        ..
    } = e
    {
        prop_assert!(matches(SPEC_TAG, t.as_str()));
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_path_maps_to_one_endpoint_or_is_refused(path in path()) {
        match Endpoint::parse(&path) {
            Ok(e) => {
                holds_only_safe_parts(&e)?;
                let printed = e.path();
                prop_assert_eq!(Endpoint::parse(&printed), Ok(e.clone()), "{} printed as {}", path, printed);
                if path.starts_with("/v2/") && path != "/v2/" && path != "/v2/_catalog" {
                    prop_assert_eq!(Some(e), expected(&path), "{}", path);
                }
            }
            Err(err) => {
                prop_assert_eq!(expected(&path), None, "{} refused: {}", path, err);
                // Refusals quote at most a bounded part of the path.
                prop_assert!(err.to_string().len() < 1200);
                let _: &EndpointError = &err;
            }
        }
    }
}
