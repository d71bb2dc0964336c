//! The collector's race across replicas: collections on replica A (with a grace period
//! of a few milliseconds) while pushes, mounts and deletes go through replica B and A,
//! over one PostgreSQL database. The fence is in the database, so no replica may
//! acknowledge (201) content that a collection on the other then removes: every image
//! acknowledged and kept pulls whole through both replicas afterwards.

use crate::gc_race_harness::{
    assert_one_collection_leaves_nothing, assert_pulls_whole, push_concurrently, shared_layers, Collector,
};
use crate::harness::TestServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN_FOR: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collections_on_one_replica_never_remove_what_the_other_acknowledged() {
    let (a, b) = TestServer::replicas().await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let layers = shared_layers(700);
    let deadline = Instant::now() + RUN_FOR;
    let collector = Collector::start(a.clone());
    // Three pushers through B, one through A (beside its own collector).
    let through = [b.clone(), b.clone(), b.clone(), a.clone()];
    let (kept, refused) = push_concurrently(&through, &layers, deadline).await;
    let (collections, removed) = collector.stop().await;
    eprintln!(
        "{} images kept, {refused} pushes refused (retryable), {collections} collections on A removed {removed} links and blobs",
        kept.len()
    );
    assert!(
        kept.len() >= 10 && collections >= 3 && removed > 0,
        "the race was not exercised"
    );
    for replica in [&a, &b] {
        assert_pulls_whole(replica, &kept).await;
    }
    // Once quiet, a collection on B finds only what A's last one left for it, and then
    // nothing: the two replicas' collections agree.
    assert_one_collection_leaves_nothing(&b, &a).await;
}
