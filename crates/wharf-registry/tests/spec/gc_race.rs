//! The race every collector must not lose: pushes (with mounts) of images sharing
//! layers, deletes, and collections with a grace period of a few milliseconds, all at
//! once. Every manifest acknowledged (201) and not deleted must then pull whole, and a
//! final collection must leave nothing unreferenced.

use crate::gc_race_harness::{
    assert_one_collection_leaves_nothing, assert_pulls_whole, push_concurrently, shared_layers, Collector,
};
use crate::harness::{files_under, TestServer};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN_FOR: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_deletes_and_collections_never_lose_an_acknowledged_image() {
    let s = Arc::new(TestServer::start().await);
    let layers = shared_layers(500);
    let deadline = Instant::now() + RUN_FOR;
    let collector = Collector::start(s.clone());
    // Four pushers, each mounting from the next one's repository.
    let through = [s.clone(), s.clone(), s.clone(), s.clone()];
    let (kept, refused) = push_concurrently(&through, &layers, deadline).await;
    let (collections, removed) = collector.stop().await;
    eprintln!(
        "{} images kept, {refused} pushes refused (retryable), {collections} collections removed {removed} links and blobs",
        kept.len()
    );
    assert!(
        kept.len() >= 20 && collections >= 5 && removed > 0,
        "the race was not exercised"
    );
    assert_pulls_whole(&s, &kept).await;

    // Once quiet, one collection leaves only what the kept images use.
    assert_one_collection_leaves_nothing(&s, &s).await;
    let mut used: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for image in &kept {
        used.insert(&image.manifest.digest);
        used.extend(image.blobs.iter().map(|b| b.digest.as_str()));
    }
    let files = files_under(&s.data_dir().join("blobs"));
    let big_files = files.iter().filter(|f| !f.contains("small.sqlite")).count();
    let big_used = kept
        .iter()
        .flat_map(|i| i.blobs.iter())
        .filter(|b| b.bytes.len() > 64 * 1024)
        .map(|b| &b.digest)
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(big_files, big_used, "only the kept images' large blobs remain as files");
    let rows: std::collections::HashSet<String> = s
        .meta
        .gc_snapshot()
        .await
        .unwrap()
        .blobs
        .iter()
        .map(|b| b.digest.to_string())
        .collect();
    let used: std::collections::HashSet<String> = used.into_iter().map(str::to_string).collect();
    let extra: Vec<_> = rows.difference(&used).collect();
    let missing: Vec<_> = used.difference(&rows).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "blob rows not used: {extra:?}; used without a row: {missing:?}"
    );
}
