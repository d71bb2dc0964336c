//! Manifests through the registry: what `ParsedManifest::parse` accepts is stored byte
//! for byte (a GET returns the same bytes and `Docker-Content-Digest`); what it refuses
//! is 400 MANIFEST_INVALID; never a 500.

use crate::harness::*;
use http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};
use wharf_oci::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use wharf_oci::{Digest, ParsedManifest};

/// Blobs pushed before every case, so that well-formed manifests can be accepted.
const CONFIG: &[u8] = b"{\"architecture\":\"amd64\"}";
const LAYER: &[u8] = b"layer bytes";

fn desc(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::sha256_of(bytes).to_string(), "size": bytes.len()})
}

fn image(media_type: &str) -> Value {
    json!({"schemaVersion": 2, "mediaType": media_type,
           "config": desc("application/vnd.oci.image.config.v1+json", CONFIG),
           "layers": [desc("application/vnd.oci.image.layer.v1.tar", LAYER)]})
}

/// The image manifest the index templates point at (pushed first).
fn child() -> Vec<u8> {
    serde_json::to_vec(&image(OCI_MANIFEST)).unwrap()
}

fn template() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just((OCI_MANIFEST, image(OCI_MANIFEST))),
        Just((DOCKER_MANIFEST, image(DOCKER_MANIFEST))),
        Just((
            OCI_INDEX,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(OCI_MANIFEST, &child())]})
        )),
        Just((
            DOCKER_MANIFEST_LIST,
            json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [desc(OCI_MANIFEST, &child())]})
        )),
        Just((OCI_MANIFEST, {
            let mut m = image(OCI_MANIFEST);
            m["artifactType"] = json!("application/x.sig");
            m["subject"] = desc(OCI_MANIFEST, &child());
            m["annotations"] = json!({"k": "v"});
            m
        })),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!(2)),
        Just(desc("application/octet-stream", LAYER)),
        Just(json!([desc("application/octet-stream", LAYER)])),
    ]
}

/// A change at one path of the document: a field set, removed, or a descriptor field
/// set.
fn mutate(doc: &mut Value, field: &str, inner: Option<&str>, value: Option<Value>) {
    let (object, key) = match inner {
        None => (doc.as_object_mut(), field),
        Some(key) => {
            let t = &mut doc[field];
            let t = if t.is_array() { t.get_mut(0) } else { Some(t) };
            (t.and_then(Value::as_object_mut), key)
        }
    };
    if let Some(object) = object {
        match value {
            Some(v) => {
                object.insert(key.to_string(), v);
            }
            None => {
                object.remove(key);
            }
        }
    }
}

/// How the bytes are written: compact, pretty, or with blanks and escapes a client may
/// use (the registry must keep them as they are).
fn render(doc: &Value, style: u8) -> Vec<u8> {
    match style % 4 {
        0 => serde_json::to_vec(doc).unwrap(),
        1 => serde_json::to_vec_pretty(doc).unwrap(),
        2 => format!(" \n{}\t\n", serde_json::to_string(doc).unwrap()).into_bytes(),
        _ => serde_json::to_string(doc)
            .unwrap()
            .replace("\"schemaVersion\"", "\"schema\\u0056ersion\"")
            .into_bytes(),
    }
}

fn case() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    let fields = prop::sample::select(vec![
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "subject",
        "annotations",
        "artifactType",
        "xextra",
    ]);
    let inner = prop::option::of(prop::sample::select(vec![
        "digest",
        "size",
        "mediaType",
        "urls",
        "annotations",
    ]));
    let mutated = (
        template(),
        prop::collection::vec((fields, inner, prop::option::of(json_leaf())), 0..3),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|((ct, mut doc), edits, style, send_ct)| {
            for (field, inner, value) in edits {
                mutate(&mut doc, field, inner, value);
            }
            (send_ct.then_some(ct), render(&doc, style))
        });
    let bytes = (template(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|((ct, doc), at, b)| {
        let mut bytes = serde_json::to_vec(&doc).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = b;
        (Some(ct), bytes)
    });
    prop_oneof![6 => mutated, 2 => bytes, 1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| (None, b))]
}

proptest! {
    #[test]
    fn manifests_are_kept_exactly_or_refused_as_invalid((content_type, bytes) in case(), by_digest in any::<bool>()) {
        let verdict = ParsedManifest::parse(content_type, &bytes);
        let digest = Digest::sha256_of(&bytes).to_string();
        let reference = if by_digest { digest.clone() } else { "fuzz".to_string() };
        let (put, get, head) = block_on(async {
            let app = registry();
            push_blob(&app, "m", CONFIG).await;
            push_blob(&app, "m", LAYER).await;
            let child = send(&app, Method::PUT, "/v2/m/manifests/child", &[("content-type", OCI_MANIFEST.as_bytes())], child()).await;
            assert_eq!(child.status, StatusCode::CREATED);
            let headers: Vec<(&str, &[u8])> = content_type.iter().map(|ct| ("content-type", ct.as_bytes())).collect();
            let put = send(&app, Method::PUT, &format!("/v2/m/manifests/{reference}"), &headers, bytes.clone()).await;
            let accept: &[(&str, &[u8])] = &[("accept", b"*/*")];
            let get = send(&app, Method::GET, &format!("/v2/m/manifests/{reference}"), accept, Vec::new()).await;
            let head = send(&app, Method::HEAD, &format!("/v2/m/manifests/{digest}"), accept, Vec::new()).await;
            (put, get, head)
        });
        prop_assert!(!put.status.is_server_error(), "{:?}", put);
        match verdict {
            Err(e) => {
                prop_assert_eq!(put.status, StatusCode::BAD_REQUEST, "{}: {:?}", e, put.body);
                prop_assert_eq!(put.code(), "MANIFEST_INVALID");
                prop_assert_eq!(get.status, StatusCode::NOT_FOUND);
            }
            Ok(parsed) => {
                if put.status == StatusCode::CREATED {
                    prop_assert_eq!(put.header("docker-content-digest"), Some(digest.as_str()));
                    prop_assert_eq!(get.status, StatusCode::OK);
                    prop_assert_eq!(&get.body[..], &bytes[..]);
                    prop_assert_eq!(get.header("docker-content-digest"), Some(digest.as_str()));
                    prop_assert_eq!(get.header("content-type"), Some(parsed.kind.media_type()));
                    prop_assert_eq!(head.status, StatusCode::OK);
                    let len = bytes.len().to_string();
                    prop_assert_eq!(head.header("content-length"), Some(len.as_str()));
                } else {
                    // Well formed, but naming what the repository lacks, or sizes that
                    // disagree with the blobs.
                    prop_assert_eq!(put.status, StatusCode::BAD_REQUEST, "{:?}", put.body);
                    let code = put.code();
                    prop_assert!(code == "MANIFEST_BLOB_UNKNOWN" || code == "MANIFEST_INVALID", "{}", code);
                    prop_assert_eq!(get.status, StatusCode::NOT_FOUND);
                }
            }
        }
    }
}
