//! The file store never writes outside its directory, whatever digest or upload id it
//! is handed: digests are validated types, upload ids are checked.

use crate::harness::block_on;
use proptest::prelude::*;
use wharf_registry::storage::{BlobStore, FsBlobStore};

/// Every path under `dir`, relative to it.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        found.push(path.strip_prefix(dir).unwrap().display().to_string());
        if path.is_dir() {
            found.extend(
                tree(&path)
                    .into_iter()
                    .map(|p| format!("{}/{p}", path.file_name().unwrap().to_string_lossy())),
            );
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.min(32), ..ProptestConfig::default() })]

    /// Blobs under any digest that parses, and uploads under any id, land inside the
    /// store's directory; ids that could leave it are refused.
    #[test]
    fn the_file_store_stays_in_its_directory(
        digest in prop_oneof!["[a-f0-9]{64}".prop_map(|h| format!("sha256:{h}")), "[a-f0-9]{128}".prop_map(|h| format!("sha512:{h}")), "sha256:[./a-f0-9]{60,66}", ".{0,20}"],
        id in prop_oneof!["[A-Za-z0-9_-]{1,20}", "\\.\\./[a-z]{1,5}", "/[a-z]{1,5}", ".{0,20}"],
    ) {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("store");
        block_on(async {
            let store = FsBlobStore::open(&root, false).await.unwrap();
            if let Ok(d) = digest.parse::<wharf_oci::Digest>() {
                store.put_blob(&d, bytes::Bytes::from_static(b"x")).await.unwrap();
                assert_eq!(store.blob_size(&d).await.unwrap(), Some(1));
            }
            let safe = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let created = store.create_upload(&id).await;
            assert_eq!(created.is_ok(), safe, "upload id {id:?}");
            if safe {
                let mut source = futures::stream::iter([Ok(bytes::Bytes::from_static(b"abc"))]);
                store.append_upload(&id, 0, &mut source).await.unwrap();
                assert!(root.join("uploads").join(&id).is_file());
            } else {
                assert!(store.delete_upload(&id).await.is_err(), "upload id {id:?}");
            }
        });
        let outside: Vec<String> = tree(outer.path()).into_iter().filter(|p| p != "store" && !p.starts_with("store/")).collect();
        prop_assert!(outside.is_empty(), "written outside the store: {:?}", outside);
    }
}
