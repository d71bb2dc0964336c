//! The collector's race across replicas: collections on replica A (with a grace period
//! of a few milliseconds) while pushes, mounts and deletes go through replica B and A,
//! over one PostgreSQL database. The fence is in the database, so no replica may
//! acknowledge (201) content that a collection on the other then removes: every image
//! acknowledged and kept pulls whole through both replicas afterwards.

use crate::content::{sha256, Blob};
use crate::gc_race::pusher;
use crate::harness::TestServer;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_registry::registry::gc::GcOptions;

const RUN_FOR: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collections_on_one_replica_never_remove_what_the_other_acknowledged() {
    let (a, b) = TestServer::replicas().await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let layers: Arc<Vec<Blob>> = Arc::new(
        (0..6)
            .map(|i| Blob::random(700 + i, 3000 + 40_000 * (i as usize % 3)))
            .collect(),
    );
    let deadline = Instant::now() + RUN_FOR;
    let stop = Arc::new(AtomicBool::new(false));
    let (collections, removed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let collector = {
        let (a, stop, collections, removed) = (a.clone(), stop.clone(), collections.clone(), removed.clone());
        tokio::spawn(async move {
            let options = GcOptions {
                grace: Duration::from_millis(3),
                ..GcOptions::default()
            };
            while !stop.load(Ordering::Relaxed) {
                let report = a.registry.collect_garbage(&options).await.unwrap();
                collections.fetch_add(1, Ordering::Relaxed);
                removed.fetch_add(report.blobs.count + report.links.count, Ordering::Relaxed);
            }
        })
    };
    // Three pushers through B, one through A (beside its own collector).
    let pushers: Vec<_> = (0..4u64)
        .map(|p| {
            let through = if p == 3 { a.clone() } else { b.clone() };
            tokio::spawn(pusher(through, p, layers.clone(), deadline))
        })
        .collect();
    let mut kept = Vec::new();
    let mut refused = 0;
    for p in pushers {
        let (acknowledged, r) = p.await.unwrap();
        kept.extend(acknowledged);
        refused += r;
    }
    stop.store(true, Ordering::Relaxed);
    collector.await.unwrap();
    let (collections, removed) = (collections.load(Ordering::Relaxed), removed.load(Ordering::Relaxed));
    eprintln!(
        "{} images kept, {refused} pushes refused (retryable), {collections} collections on A removed {removed} links and blobs",
        kept.len()
    );
    assert!(
        kept.len() >= 10 && collections >= 3 && removed > 0,
        "the race was not exercised"
    );
    for replica in [&a, &b] {
        for image in &kept {
            let pulled = replica
                .get(&format!("/v2/{}/manifests/{}", image.repo, image.tag))
                .await;
            assert_eq!(pulled.status(), StatusCode::OK, "{}:{}", image.repo, image.tag);
            assert_eq!(sha256(&pulled.bytes().await.unwrap()), image.manifest.digest);
            for blob in &image.blobs {
                let pulled = replica.get(&format!("/v2/{}/blobs/{}", image.repo, blob.digest)).await;
                assert_eq!(
                    pulled.status(),
                    StatusCode::OK,
                    "{} of {}:{}",
                    blob.digest,
                    image.repo,
                    image.tag
                );
                assert_eq!(sha256(&pulled.bytes().await.unwrap()), blob.digest);
            }
        }
    }
    // Once quiet, a collection on B finds only what A's last one left for it, and then
    // nothing: the two replicas' collections agree.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let everything = GcOptions {
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    b.registry.collect_garbage(&everything).await.unwrap();
    let again = a
        .registry
        .collect_garbage(&GcOptions {
            dry_run: true,
            ..everything
        })
        .await
        .unwrap();
    assert_eq!(
        again.manifests.count + again.links.count + again.blobs.count + again.stray_blobs.count,
        0
    );
}
