//! Manifest and index parsing: arbitrary JSON never panics, and real manifests with one
//! known mutation are accepted or refused as the mutation says they must be.

use proptest::prelude::*;
use serde_json::{json, Value};
use wharf_oci::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use wharf_oci::{ManifestError, ManifestKind, ParsedManifest};

/// Any JSON value, a few levels deep, with keys that manifests use.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
            .prop_map(|s| Value::String(s.into())),
        "[a-f0-9]{64}".prop_map(|h| Value::String(format!("sha256:{h}"))),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        let key = prop_oneof![
            prop::sample::select(vec![
                "schemaVersion",
                "mediaType",
                "config",
                "layers",
                "manifests",
                "subject",
                "annotations",
                "artifactType",
                "digest",
                "size",
                "urls",
                "platform",
            ])
            .prop_map(str::to_string),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn descriptor(n: u8, size: u64) -> Value {
    json!({"mediaType": "application/octet-stream", "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)), "size": size})
}

/// A real manifest of each kind, as clients push them.
pub fn real_manifest() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just((
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(1, 10), "layers": [descriptor(2, 20), descriptor(3, 30)], "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}})
        )),
        Just((
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.sbom", "config": descriptor(1, 10), "layers": [], "subject": descriptor(4, 40)})
        )),
        Just((
            OCI_INDEX,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(5, 50), descriptor(6, 60)]})
        )),
        Just((
            DOCKER_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": descriptor(1, 10), "layers": [descriptor(2, 20)]})
        )),
        Just((
            DOCKER_MANIFEST_LIST,
            json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [descriptor(5, 50)]})
        )),
    ]
}

/// One change to a real manifest, with what it must do to the verdict.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// An unknown top-level field or annotation: still accepted (forward compatible).
    AddUnknownField(String, Value),
    /// `schemaVersion` other than 2: refused.
    SchemaVersion(i64),
    /// The required list (`layers`/`manifests`) or `config` removed: refused.
    RemoveRequired,
    /// A descriptor's digest replaced by something that is not a digest: refused.
    BadDigest(String),
    /// A descriptor's size made negative or a string: refused.
    BadSize(Value),
    /// An annotation value that is not a string: refused.
    BadAnnotation(Value),
    /// The `mediaType` field replaced by another manifest type: refused (Content-Type
    /// still says the original).
    OtherMediaType(&'static str),
    /// Any field replaced by arbitrary JSON: no verdict expected, only no panic.
    Replace(String, Value),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        ("x[a-z]{1,8}", any_json()).prop_map(|(k, v)| Mutation::AddUnknownField(k, v)),
        any::<i64>()
            .prop_filter("not 2", |v| *v != 2)
            .prop_map(Mutation::SchemaVersion),
        Just(Mutation::RemoveRequired),
        prop_oneof![
            "sha256:[a-f0-9]{0,63}",
            "sha256:[A-F0-9]{64}",
            "md5:[a-f0-9]{32}",
            "\\.\\./[a-z/]{0,20}",
            ".{0,10}"
        ]
        .prop_filter("not a digest", |s| s.parse::<wharf_oci::Digest>().is_err())
        .prop_map(Mutation::BadDigest),
        prop_oneof![
            (i64::MIN..0).prop_map(Value::from),
            ".{0,5}".prop_map(Value::String),
            Just(json!(1.5))
        ]
        .prop_map(Mutation::BadSize),
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            Just(Value::Null),
            Just(json!([])),
            Just(json!({}))
        ]
        .prop_map(Mutation::BadAnnotation),
        prop::sample::select(vec![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
            .prop_map(Mutation::OtherMediaType),
        (
            prop::sample::select(vec![
                "schemaVersion",
                "mediaType",
                "config",
                "layers",
                "manifests",
                "subject",
                "annotations",
                "artifactType"
            ]),
            any_json()
        )
            .prop_map(|(k, v)| Mutation::Replace(k.to_string(), v)),
    ]
}

/// Applies `m` to `doc`; the verdict it must lead to (`None`: either).
pub fn apply(doc: &mut Value, content_type: &str, m: &Mutation) -> Option<bool> {
    let index = ManifestKind::from_media_type(content_type).unwrap().is_index();
    let list = if index { "manifests" } else { "layers" };
    match m {
        Mutation::AddUnknownField(k, v) => {
            doc[k.as_str()] = v.clone();
            Some(true)
        }
        Mutation::SchemaVersion(v) => {
            doc["schemaVersion"] = json!(v);
            Some(false)
        }
        Mutation::RemoveRequired => {
            let field = if index || doc[list].as_array().is_some_and(|l| l.is_empty()) {
                list
            } else {
                "config"
            };
            doc.as_object_mut().unwrap().remove(field);
            Some(false)
        }
        Mutation::BadDigest(d) => {
            first_descriptor(doc, list)["digest"] = json!(d);
            Some(false)
        }
        Mutation::BadSize(v) => {
            first_descriptor(doc, list)["size"] = v.clone();
            Some(false)
        }
        Mutation::BadAnnotation(v) => {
            doc["annotations"] = json!({"a": v});
            Some(false)
        }
        Mutation::OtherMediaType(t) => {
            doc["mediaType"] = json!(t);
            Some(*t == content_type)
        }
        Mutation::Replace(k, v) => {
            doc[k.as_str()] = v.clone();
            None
        }
    }
}

fn first_descriptor<'a>(doc: &'a mut Value, list: &str) -> &'a mut Value {
    if doc[list].as_array().is_some_and(|l| !l.is_empty()) {
        &mut doc[list][0]
    } else {
        &mut doc["config"]
    }
}

/// What must hold of any accepted manifest, whatever it was.
fn check_accepted(content_type: Option<&str>, doc: &Value, m: &ParsedManifest) -> Result<(), TestCaseError> {
    let declared = doc.get("mediaType").and_then(Value::as_str);
    if let (Some(ct), Some(mt)) = (content_type, declared) {
        prop_assert_eq!(ct, mt);
    }
    if let Some(t) = content_type.or(declared) {
        prop_assert_eq!(m.kind.media_type(), t);
    }
    prop_assert_eq!(doc["schemaVersion"].as_i64(), Some(2));
    if m.kind.is_index() {
        prop_assert_eq!(
            m.manifests.len(),
            doc["manifests"].as_array().map_or(usize::MAX, Vec::len)
        );
        prop_assert!(m.config.is_none() && m.layers.is_empty());
    } else {
        prop_assert!(m.config.is_some());
        prop_assert_eq!(m.layers.len(), doc["layers"].as_array().map_or(usize::MAX, Vec::len));
    }
    Ok(())
}

proptest! {
    /// Arbitrary JSON, and arbitrary bytes, are accepted or refused, never a panic; what
    /// is accepted holds the fields the manifest's kind requires.
    #[test]
    fn arbitrary_json_never_panics(doc in any_json(), ct in prop::option::of(prop::sample::select(vec![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, "application/json", "text/plain"]))) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        if let Ok(m) = ParsedManifest::parse(ct, &bytes) {
            let ct = ct.filter(|c| *c != "application/json");
            prop_assert!(ct != Some("text/plain"));
            check_accepted(ct, &doc, &m)?;
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if ParsedManifest::parse(None, &bytes).is_ok() {
            prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
        }
    }

    /// A real manifest with one mutation is accepted or refused as the mutation says.
    #[test]
    fn mutated_real_manifests_get_the_expected_verdict((ct, doc) in real_manifest(), m in mutation(), send_ct in any::<bool>()) {
        let mut doc = doc;
        let expected = apply(&mut doc, ct, &m);
        let content_type = send_ct.then_some(ct);
        // Without a Content-Type, a changed mediaType is the manifest's own type: fine
        // when the fields it requires are there.
        let expected = match (&m, content_type) {
            (Mutation::OtherMediaType(t), None) => {
                let is_index = |t: &str| ManifestKind::from_media_type(t).unwrap().is_index();
                Some(is_index(t) == is_index(ct))
            }
            _ => expected,
        };
        let bytes = serde_json::to_vec(&doc).unwrap();
        let verdict = ParsedManifest::parse(content_type, &bytes);
        if let Some(expected) = expected {
            prop_assert_eq!(verdict.is_ok(), expected, "{:?} on {}: {:?}", m, doc, verdict);
        }
        match verdict {
            Ok(parsed) => check_accepted(content_type, &doc, &parsed)?,
            Err(e) => { let _: ManifestError = e; }
        }
    }
}
