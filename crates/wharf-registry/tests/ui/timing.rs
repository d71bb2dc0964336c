//! How long the repository page takes with 10,000 tags, its first page and its last on the SQLite metadata store
//! (ignored: a measurement to run by hand on a quiet machine, not an assertion for CI):
//! `cargo test --profile ci --workspace --test ui -- --ignored --nocapture`.

use crate::harness::*;
use crate::paging::next_of;
use std::sync::Arc;
use std::time::Instant;
use wharf_registry::meta::SqliteMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::{Registry, RegistryConfig};

#[tokio::test]
#[ignore]
async fn a_repository_of_ten_thousand_tags_renders_its_first_page() {
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.sqlite"), false)
        .await
        .unwrap();
    let registry = Arc::new(Registry::new(
        Arc::new(MemoryBlobStore::new()),
        Arc::new(meta),
        RegistryConfig::default(),
    ));
    let ui = Ui::over(registry, None);
    // 100 manifests, each under 100 tags: 10,000 tags.
    let started = Instant::now();
    for i in 0..100 {
        let config = serde_json::json!({ "architecture": "amd64", "os": "linux", "created": format!("{i}") });
        let digest = ui
            .push_image("big/app", &format!("t{i:05}"), config, serde_json::json!({}), None)
            .await;
        let manifest = ui.get(&format!("/v2/big/app/manifests/{digest}"), None).await.body;
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        for j in 1..100 {
            ui.push_manifest("big/app", &format!("t{:05}", i + 100 * j), &manifest, None)
                .await;
        }
    }
    println!("pushed 10,000 tags in {:?}", started.elapsed());
    for sort in ["", "&sort=name"] {
        let first = format!("/ui/repository?name=big/app{sort}");
        // The last page, reached by following "Next" (a keyset cursor, not an offset).
        let mut last = first.clone();
        let mut pages = 1;
        while let Some(next) = next_of(&ui.get(&last, None).await.body) {
            last = next;
            pages += 1;
        }
        println!("{pages} pages");
        for (which, path) in [("first", &first), ("last", &last)] {
            ui.get(path, None).await; // warm: configs and manifests read once
            let mut times = Vec::new();
            for _ in 0..10 {
                let started = Instant::now();
                let page = ui.get(path, None).await;
                times.push(started.elapsed());
                assert!(
                    page.body.contains("10000 tags"),
                    "{}",
                    &page.body[..500.min(page.body.len())]
                );
            }
            times.sort();
            println!("{which} page {path}: median {:?}, max {:?}", times[5], times[9]);
        }
    }
}
