//! Query parameters (`n`, `last`, `digest`, `mount`, `from`, `tag`): generated values,
//! form-encoded as a client would, either act as the values that were encoded or get
//! the spec's error code; never a 500.

use crate::harness::*;
use http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::json;
use wharf_oci::media_type::OCI_MANIFEST;

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn n_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0usize..8).prop_map(|n| n.to_string()),
        1 => Just(usize::MAX.to_string()),
        1 => Just("18446744073709551616".to_string()),
        1 => "-?[0-9]{1,3}|[ a-z+.]{0,3}[0-9]{0,2}",
    ]
}

fn last_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "latest", "v1", "v1.0", "zz", ""]).prop_map(str::to_string),
        ".{0,8}",
    ]
}

/// The manifest every tag of the listing tests points at (its config pushed first).
async fn push_image(app: &axum::Router, repo: &str, tags: &[&str]) -> String {
    let config = push_blob(app, repo, b"{}").await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": []
    }))
    .unwrap();
    for tag in tags {
        let a = send(
            app,
            Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("content-type", OCI_MANIFEST.as_bytes())],
            manifest.clone(),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED);
    }
    wharf_oci::Digest::sha256_of(&manifest).to_string()
}

const TAGS: [&str; 6] = ["a", "b", "latest", "v1", "v1.0", "v2"];

proptest! {
    /// `n` and `last` of a tag listing: the tags after `last` in lexical order, at most
    /// `n` of them, with a `Link` exactly when more follow; a bad `n` is a 400.
    #[test]
    fn tag_listing_pages_agree_with_the_model(n in prop::option::of(n_value()), last in prop::option::of(last_value())) {
        let mut pairs = Vec::new();
        if let Some(n) = &n { pairs.push(("n", n.as_str())); }
        if let Some(last) = &last { pairs.push(("last", last.as_str())); }
        let answer = block_on(async {
            let app = registry();
            push_image(&app, "q", &TAGS).await;
            send(&app, Method::GET, &format!("/v2/q/tags/list?{}", encode(&pairs)), &[], Vec::new()).await
        });
        let parsed_n = n.as_deref().map(str::parse::<usize>);
        if let Some(Err(_)) = parsed_n {
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            prop_assert!(!answer.code().is_empty());
            return Ok(());
        }
        prop_assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let after: Vec<&str> = TAGS.iter().copied().filter(|t| last.as_deref().is_none_or(|l| *t > l)).collect();
        let limit = parsed_n.map(Result::unwrap).unwrap_or(usize::MAX);
        let expected: Vec<&str> = after.iter().copied().take(limit).collect();
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        let got: Vec<&str> = body["tags"].as_array().map(|t| t.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        prop_assert_eq!(&got, &expected);
        let more = expected.len() < after.len() && limit > 0;
        if more {
            prop_assert!(answer.header("link").is_some());
        }
        if expected.len() == after.len() {
            prop_assert!(answer.header("link").is_none());
        }
    }

    /// `digest` of a monolithic upload: the blob's own digest is 201, any other valid
    /// digest or a malformed one is 400 DIGEST_INVALID.
    #[test]
    fn upload_digest_parameter(digest in prop_oneof![Just(None), Just(Some("own".to_string())), "[a-f0-9]{64}".prop_map(|h| Some(format!("sha256:{h}"))), ".{0,70}".prop_map(Some)]) {
        let content = b"hello".to_vec();
        let own = wharf_oci::Digest::sha256_of(&content).to_string();
        let digest = digest.map(|d| if d == "own" { own.clone() } else { d });
        let answer = block_on(async {
            let app = registry();
            let query = digest.as_deref().map(|d| format!("?{}", encode(&[("digest", d)]))).unwrap_or_default();
            send(&app, Method::POST, &format!("/v2/q/blobs/uploads/{query}"), &[("content-length", b"5"), ("content-type", b"application/octet-stream")], content).await
        });
        match digest.as_deref() {
            None => prop_assert_eq!(answer.status, StatusCode::ACCEPTED),
            Some(d) if d == own => prop_assert_eq!(answer.status, StatusCode::CREATED),
            Some(_) => {
                prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
                prop_assert_eq!(answer.code(), "DIGEST_INVALID");
            }
        }
    }

    /// `mount` and `from`: a mount of a blob `from` holds is 201; a malformed digest is
    /// 400 DIGEST_INVALID, a malformed `from` 400 NAME_INVALID; any other mount falls
    /// back to an upload session (202).
    #[test]
    fn mount_and_from_parameters(
        mount in prop_oneof![Just("held".to_string()), "[a-f0-9]{64}".prop_map(|h| format!("sha256:{h}")), ".{0,12}"],
        from in prop::option::of(prop_oneof![Just("src".to_string()), Just("other".to_string()), ".{0,12}"]),
    ) {
        let (held, answer) = block_on(async {
            let app = registry();
            let held = push_blob(&app, "src", b"shared layer").await;
            let mount = if mount == "held" { held.clone() } else { mount.clone() };
            let mut pairs = vec![("mount", mount.as_str())];
            if let Some(from) = &from { pairs.push(("from", from.as_str())); }
            let a = send(&app, Method::POST, &format!("/v2/q/blobs/uploads/?{}", encode(&pairs)), &[], Vec::new()).await;
            (held, a)
        });
        let mount = if mount == "held" { held.clone() } else { mount };
        let mount_ok = mount.parse::<wharf_oci::Digest>().is_ok();
        let from_ok = from.as_deref().is_none_or(|f| f.parse::<wharf_oci::RepositoryName>().is_ok());
        if !mount_ok {
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            prop_assert_eq!(answer.code(), "DIGEST_INVALID");
        } else if !from_ok {
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            prop_assert_eq!(answer.code(), "NAME_INVALID");
        } else if mount == held && matches!(from.as_deref(), Some("src") | None) {
            // Without `from`, a blob the registry holds is linked (`mount_without_from`,
            // on by default).
            prop_assert_eq!(answer.status, StatusCode::CREATED);
        } else {
            prop_assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        }
    }

    /// `tag` of a manifest pushed by digest: every valid tag given is listed after; one
    /// invalid tag refuses the push with 400 TAG_INVALID and tags nothing.
    #[test]
    fn extra_tag_parameters(tags in prop::collection::vec(prop_oneof![3 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,8}", 1 => ".{0,6}"], 0..4)) {
        let (answer, listed) = block_on(async {
            let app = registry();
            let config = push_blob(&app, "t", b"{}").await;
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
                "layers": []
            })).unwrap();
            let digest = wharf_oci::Digest::sha256_of(&manifest);
            let pairs: Vec<(&str, &str)> = tags.iter().map(|t| ("tag", t.as_str())).collect();
            let a = send(&app, Method::PUT, &format!("/v2/t/manifests/{digest}?{}", encode(&pairs)), &[("content-type", OCI_MANIFEST.as_bytes())], manifest).await;
            let listed = send(&app, Method::GET, "/v2/t/tags/list", &[], Vec::new()).await;
            (a, listed)
        });
        let all_valid = tags.iter().all(|t| t.parse::<wharf_oci::Tag>().is_ok());
        let body: serde_json::Value = serde_json::from_slice(&listed.body).unwrap_or_default();
        let mut got: Vec<String> = body["tags"].as_array().map(|t| t.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
        got.sort();
        if all_valid {
            prop_assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
            let mut expected = tags.clone();
            expected.sort();
            expected.dedup();
            prop_assert_eq!(got, expected);
        } else {
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            prop_assert_eq!(answer.code(), "TAG_INVALID");
            prop_assert!(got.is_empty(), "{:?}", got);
        }
    }
}
