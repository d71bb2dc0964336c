//! A repository's tags page by keyset: following "Next" lists every tag once, in order,
//! by name and by last push, while tags are pushed between the pages.

use crate::harness::*;
use std::collections::HashSet;
use std::sync::Arc;
use wharf_registry::meta::SqliteMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::{Registry, RegistryConfig};

/// The tags of a repository page in the order shown.
fn tags_on(page: &str) -> Vec<String> {
    let pattern = regex::Regex::new(r#"">(t-[0-9]+|new-[0-9]+)</a></td>"#).unwrap();
    pattern.captures_iter(page).map(|c| c[1].to_string()).collect()
}

/// The address of the "Next" link, if any.
pub fn next_of(page: &str) -> Option<String> {
    let pattern = regex::Regex::new(r#"<a href="([^"]+)">Next →</a>"#).unwrap();
    pattern.captures(page).map(|c| c[1].replace("&amp;", "&"))
}

async fn ui_with_tags(count: usize) -> (tempfile::TempDir, Ui, Vec<String>) {
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
    let digest = ui.push_plain_image("app", "t-000", None).await;
    let manifest = ui.get(&format!("/v2/app/manifests/{digest}"), None).await.body;
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    // Pushed in an order unlike the names', a little apart.
    let mut pushed = vec!["t-000".to_string()];
    for i in 1..count {
        let tag = format!("t-{:03}", (i * 37) % count);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        ui.push_manifest("app", &tag, &manifest, None).await;
        pushed.push(tag);
    }
    (dir, ui, pushed)
}

/// Follows "Next" from `first`, pushing a new tag after each page; every tag shown.
async fn follow(ui: &Ui, first: &str) -> Vec<String> {
    let manifest = ui.get("/v2/app/manifests/t-000", None).await.body;
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let mut shown = Vec::new();
    let mut next = Some(first.to_string());
    let mut pushed = 0;
    while let Some(path) = next {
        let page = ui.get(&path, None).await;
        assert_eq!(page.status, http::StatusCode::OK, "{path}");
        let tags = tags_on(&page.body);
        assert!(tags.len() <= 50, "{path}: {} rows", tags.len());
        shown.extend(tags);
        next = next_of(&page.body);
        pushed += 1;
        ui.push_manifest("app", &format!("new-{pushed:03}"), &manifest, None)
            .await;
        assert!(pushed < 100, "the pages do not end");
    }
    shown
}

#[tokio::test]
async fn pages_by_name_and_by_push_list_every_tag_once_while_tags_are_pushed() {
    let (_dir, ui, pushed) = ui_with_tags(130).await;
    let mut by_name = pushed.clone();
    by_name.sort();
    let newest_first: Vec<String> = pushed.iter().rev().cloned().collect();

    // By push: the newly pushed tags come before the cursor, never on later pages.
    let shown = follow(&ui, "/ui/repository?name=app").await;
    assert_eq!(shown, newest_first);

    // By name: names of new tags sort before the `t-` tags, so the pages that follow
    // the first show only those that were there when it was read.
    let shown = follow(&ui, "/ui/repository?name=app&sort=name").await;
    let unique: HashSet<&String> = shown.iter().collect();
    assert_eq!(unique.len(), shown.len(), "a tag shown twice: {shown:?}");
    let old: Vec<String> = shown.iter().filter(|t| t.starts_with("t-")).cloned().collect();
    assert_eq!(old, by_name);
    let first_page = ui.get("/ui/repository?name=app&sort=name", None).await;
    assert!(!first_page.body.contains("First page"));
}
