//! `index.json`: reading it, looking tags up in it, and changing its entries.
//!
//! Other tools write fields this module has no use for (top-level annotations, `urls` or
//! `data` on descriptors, fields of future spec versions). The document is therefore
//! kept as JSON and only the entries this module replaces are rewritten, so a round trip
//! through wharf loses nothing.

use std::path::Path;

use serde_json::{Map, Value};
use wharf_oci::media_type::OCI_INDEX;

use super::entry::LayoutEntry;
use super::error::LayoutError;

/// Largest `index.json` read. Real ones list a few tags; the cap only keeps a damaged or
/// hostile file from exhausting memory.
pub(crate) const MAX_INDEX_LEN: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub(crate) struct IndexFile {
    /// The whole document; its `manifests` member is rebuilt from `entries` on write.
    doc: Map<String, Value>,
    /// Each descriptor as read (or as written by `set_ref`) beside its parsed form.
    entries: Vec<(Value, LayoutEntry)>,
}

impl IndexFile {
    pub(crate) fn empty() -> IndexFile {
        let mut doc = Map::new();
        doc.insert("schemaVersion".into(), Value::from(2));
        doc.insert("mediaType".into(), Value::from(OCI_INDEX));
        doc.insert("manifests".into(), Value::Array(Vec::new()));
        IndexFile {
            doc,
            entries: Vec::new(),
        }
    }

    /// Parses `bytes`, or says in a few words what is wrong with them.
    pub(crate) fn parse(bytes: &[u8]) -> Result<IndexFile, String> {
        let doc = match serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string())? {
            Value::Object(doc) => doc,
            _ => return Err("not a JSON object".into()),
        };
        match doc.get("schemaVersion") {
            Some(v) if v.as_u64() == Some(2) => {}
            Some(v) => return Err(format!("schemaVersion is {v}, not 2")),
            None => return Err("schemaVersion is missing".into()),
        }
        match doc.get("mediaType") {
            None => {}
            Some(Value::String(mt)) if mt == OCI_INDEX => {}
            Some(v) => return Err(format!("mediaType is {v}, not {OCI_INDEX:?}")),
        }
        let manifests = match doc.get("manifests") {
            Some(Value::Array(m)) => m,
            Some(_) => return Err("manifests is not an array".into()),
            None => return Err("manifests is missing".into()),
        };
        let entries = manifests
            .iter()
            .enumerate()
            .map(|(i, raw)| match serde_json::from_value::<LayoutEntry>(raw.clone()) {
                Ok(entry) => Ok((raw.clone(), entry)),
                Err(e) => Err(format!("manifests[{i}]: {e}")),
            })
            .collect::<Result<_, _>>()?;
        Ok(IndexFile { doc, entries })
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut doc = self.doc.clone();
        let manifests = self.entries.iter().map(|(raw, _)| raw.clone()).collect();
        doc.insert("manifests".into(), Value::Array(manifests));
        // SHOULD per image-index.md; an index written by an older tool gains it here.
        doc.entry("mediaType").or_insert_with(|| Value::from(OCI_INDEX));
        serde_json::to_vec(&doc).expect("a JSON value always serialises")
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &LayoutEntry> {
        self.entries.iter().map(|(_, e)| e)
    }

    /// The tags in index order, each once.
    pub(crate) fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for name in self.entries().filter_map(|e| e.ref_name.as_ref()) {
            if !tags.contains(name) {
                tags.push(name.clone());
            }
        }
        tags
    }

    /// The entry tagged `tag`, or without a tag the only entry there is. `root` is only
    /// for the error messages.
    pub(crate) fn resolve(&self, tag: Option<&str>, root: &Path) -> Result<LayoutEntry, LayoutError> {
        let path = root.to_path_buf();
        match tag {
            Some(tag) => {
                let mut found = self.entries().filter(|e| e.ref_name.as_deref() == Some(tag));
                let first = found.next().ok_or_else(|| LayoutError::TagNotFound {
                    path: path.clone(),
                    tag: tag.to_string(),
                    tags: self.tags(),
                })?;
                // Another tool may have listed a tag twice; that only matters when the
                // two entries disagree on what it points to.
                if found.any(|other| other.digest != first.digest) {
                    return Err(LayoutError::DuplicateTag {
                        path,
                        tag: tag.to_string(),
                    });
                }
                Ok(first.clone())
            }
            None => match self.entries.as_slice() {
                [] => Err(LayoutError::Empty { path }),
                [(_, only)] => Ok(only.clone()),
                several => Err(LayoutError::Ambiguous {
                    path,
                    count: several.len(),
                    tags: self.tags(),
                }),
            },
        }
    }

    /// Adds `entry`. It takes the place of the entry holding its ref name (or, untagged,
    /// of an untagged entry for the same digest), so a tag points at one image only and
    /// re-copying an untagged image does not list it twice. Any further entries with
    /// that name, left by other tools, are dropped.
    pub(crate) fn set_ref(&mut self, entry: LayoutEntry) {
        let same_slot = |e: &LayoutEntry| match &entry.ref_name {
            Some(name) => e.ref_name.as_ref() == Some(name),
            None => e.ref_name.is_none() && e.digest == entry.digest,
        };
        let raw = serde_json::to_value(&entry).expect("a LayoutEntry always serialises");
        let mut kept = Vec::with_capacity(self.entries.len() + 1);
        let mut placed = false;
        for (old_raw, old) in self.entries.drain(..) {
            if !same_slot(&old) {
                kept.push((old_raw, old));
            } else if !placed {
                kept.push((raw.clone(), entry.clone()));
                placed = true;
            }
        }
        if !placed {
            kept.push((raw, entry));
        }
        self.entries = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wharf_oci::media_type::OCI_MANIFEST;
    use wharf_oci::Digest;

    fn manifest(content: &[u8], tag: Option<&str>) -> LayoutEntry {
        let mut e = LayoutEntry::new(OCI_MANIFEST, Digest::sha256_of(content), content.len() as u64);
        e.ref_name = tag.map(str::to_string);
        e
    }

    #[test]
    fn empty_index_is_spec_shaped() {
        let bytes = IndexFile::empty().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}));
        assert!(IndexFile::parse(&bytes).unwrap().entries().next().is_none());
    }

    #[test]
    fn refuses_what_is_not_an_index() {
        let d = Digest::sha256_of(b"").to_string();
        for (bad, why) in [
            (json!([]), "not a JSON object"),
            (json!({"manifests": []}), "schemaVersion is missing"),
            (json!({"schemaVersion": 1, "manifests": []}), "schemaVersion is 1"),
            (json!({"schemaVersion": 2}), "manifests is missing"),
            (json!({"schemaVersion": 2, "manifests": {}}), "not an array"),
            (
                json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "manifests": []}),
                "mediaType",
            ),
            (
                json!({"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": "sha256:00", "size": 1}]}),
                "manifests[0]",
            ),
            (
                json!({"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": d, "size": -1}]}),
                "manifests[0]",
            ),
        ] {
            let err = IndexFile::parse(bad.to_string().as_bytes()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(IndexFile::parse(b"{").is_err());
    }

    #[test]
    fn rewriting_keeps_fields_it_does_not_know() {
        let kept = manifest(b"a", Some("a"));
        let doc = json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": kept.digest.to_string(), "size": 1,
                 "urls": ["https://example.com/a"], "data": "YQ==",
                 "annotations": {"org.opencontainers.image.ref.name": "a"}}
            ],
            "annotations": {"com.example.index.revision": "r1"}
        });
        let mut index = IndexFile::parse(doc.to_string().as_bytes()).unwrap();
        index.set_ref(manifest(b"b", Some("b")));
        let out: Value = serde_json::from_slice(&index.to_bytes()).unwrap();
        assert_eq!(out["annotations"], doc["annotations"]);
        assert_eq!(out["manifests"][0], doc["manifests"][0]);
        assert_eq!(out["mediaType"], OCI_INDEX);
        assert_eq!(
            out["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"],
            "b"
        );
    }

    #[test]
    fn set_ref_replaces_by_tag_and_dedups_untagged() {
        let mut index = IndexFile::empty();
        index.set_ref(manifest(b"1", Some("v1")));
        index.set_ref(manifest(b"x", None));
        index.set_ref(manifest(b"2", Some("latest")));
        index.set_ref(manifest(b"3", Some("v1")));
        index.set_ref(manifest(b"x", None));
        let got: Vec<_> = index.entries().cloned().collect();
        assert_eq!(
            got,
            vec![
                manifest(b"3", Some("v1")),
                manifest(b"x", None),
                manifest(b"2", Some("latest"))
            ]
        );
        // A tag and an untagged entry for the same digest are different entries.
        index.set_ref(manifest(b"x", Some("x")));
        assert_eq!(index.entries().count(), 4);
    }

    #[test]
    fn set_ref_drops_duplicates_other_tools_left() {
        let (a, b) = (manifest(b"a", Some("t")), manifest(b"b", Some("t")));
        let doc = json!({"schemaVersion": 2, "manifests": [a, manifest(b"o", None), b]});
        let mut index = IndexFile::parse(doc.to_string().as_bytes()).unwrap();
        let root = Path::new("/l");
        assert!(matches!(
            index.resolve(Some("t"), root),
            Err(LayoutError::DuplicateTag { .. })
        ));
        index.set_ref(manifest(b"c", Some("t")));
        let got: Vec<_> = index.entries().cloned().collect();
        assert_eq!(got, vec![manifest(b"c", Some("t")), manifest(b"o", None)]);
        assert_eq!(index.resolve(Some("t"), root).unwrap(), manifest(b"c", Some("t")));
    }

    #[test]
    fn resolve_by_tag_or_alone() {
        let root = Path::new("/l");
        let mut index = IndexFile::empty();
        assert!(matches!(index.resolve(None, root), Err(LayoutError::Empty { .. })));
        index.set_ref(manifest(b"1", Some("v1")));
        assert_eq!(index.resolve(None, root).unwrap(), manifest(b"1", Some("v1")));
        index.set_ref(manifest(b"2", None));
        match index.resolve(None, root) {
            Err(LayoutError::Ambiguous { count: 2, tags, .. }) => assert_eq!(tags, vec!["v1".to_string()]),
            other => panic!("{other:?}"),
        }
        assert_eq!(index.resolve(Some("v1"), root).unwrap(), manifest(b"1", Some("v1")));
        match index.resolve(Some("v2"), root) {
            Err(LayoutError::TagNotFound { tag, tags, .. }) => {
                assert_eq!(tag, "v2");
                assert_eq!(tags, vec!["v1".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }
}
