//! What the collector's race tests share (one server in `gc_race`, two replicas in
//! `gc_replicas`): pushers of images that share layers, a collector looping beside
//! them, and the checks that every image acknowledged and kept pulls whole and that a
//! last collection leaves nothing behind.

use crate::client::header;
use crate::content::{image_json, sha256, Blob, Manifest};
use crate::harness::TestServer;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use wharf_registry::registry::gc::GcOptions;

/// An image a client was told is stored.
pub struct Acknowledged {
    pub repo: String,
    pub tag: String,
    pub manifest: Manifest,
    pub blobs: Vec<Blob>,
}

/// Six layers the pushers share, some packed (small) and some files; `seed` keeps one
/// test's apart from another's.
pub fn shared_layers(seed: u64) -> Arc<Vec<Blob>> {
    Arc::new(
        (0..6)
            .map(|i| Blob::random(seed + i, 3000 + 40_000 * (i as usize % 3)))
            .collect(),
    )
}

/// Whether a push's refusal is one the collector may cause and a client retries.
async fn retryable(response: reqwest::Response) -> bool {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let fenced = status == StatusCode::TOO_MANY_REQUESTS && body.contains("TOOMANYREQUESTS");
    let unlinked = status == StatusCode::BAD_REQUEST && body.contains("MANIFEST_BLOB_UNKNOWN");
    assert!(fenced || unlinked, "unexpected answer {status}: {body}");
    true
}

/// Pushes `blob` into `repo`, by a mount from `from` when given (falling back to an
/// upload as a client does); `false` on a retryable refusal.
async fn push_blob(s: &TestServer, repo: &str, blob: &Blob, from: Option<&str>) -> bool {
    let query = match from {
        Some(from) => format!("?mount={}&from={from}", blob.digest),
        None => String::new(),
    };
    let started = s.post_upload(repo, &query).await;
    match started.status() {
        StatusCode::CREATED => return true,
        StatusCode::ACCEPTED => {}
        _ => return !retryable(started).await,
    }
    let location = header(&started, "location").unwrap();
    let put = s.put_upload(&location, &blob.digest, &blob.bytes).await;
    put.status() == StatusCode::CREATED || !retryable(put).await
}

/// Pushes images (mounting half the layers from the next of `pushers` pushers) into
/// `team/r{p}` until `deadline`, deleting every third: the images acknowledged and
/// kept, and how many pushes were refused (retryably).
async fn pusher(
    s: Arc<TestServer>,
    p: u64,
    pushers: u64,
    layers: Arc<Vec<Blob>>,
    deadline: Instant,
) -> (Vec<Acknowledged>, u64) {
    let repo = format!("team/r{p}");
    let mut kept: Vec<Acknowledged> = Vec::new();
    let mut refused = 0;
    let mut k = 0;
    while Instant::now() < deadline {
        k += 1;
        let config = Blob::config(p * 1_000_000 + k);
        let chosen = [
            &layers[(k as usize) % layers.len()],
            &layers[((k + p) as usize * 7) % layers.len()],
        ];
        let manifest = Manifest::new(&image_json(&config, &chosen));
        let mut blobs = vec![config.clone()];
        blobs.extend(chosen.iter().map(|b| (*b).clone()));
        let mut ok = true;
        for (i, blob) in blobs.iter().enumerate() {
            let other = format!("team/r{}", (p + 1) % pushers);
            let from = (i > 0 && k % 2 == 0).then_some(other.as_str());
            if !push_blob(&s, &repo, blob, from).await {
                ok = false;
                break;
            }
        }
        let tag = format!("t{k}");
        if ok {
            let put = s.put_manifest(&repo, &tag, &manifest).await;
            ok = put.status() == StatusCode::CREATED || !retryable(put).await;
        }
        if !ok {
            refused += 1;
            continue;
        }
        kept.push(Acknowledged {
            repo: repo.clone(),
            tag,
            manifest,
            blobs,
        });
        // Delete every third image acknowledged so far, keeping the others.
        if k % 3 == 0 {
            let gone = kept.remove(kept.len() / 2);
            let path = format!("/v2/{}/manifests/{}", gone.repo, gone.manifest.digest);
            assert_eq!(s.delete(&path).await.status(), StatusCode::ACCEPTED);
        }
    }
    (kept, refused)
}

/// One pusher through each of `through` (pusher `p` into `team/r{p}`) until `deadline`:
/// every image acknowledged and kept, and how many pushes were refused (retryably).
pub async fn push_concurrently(
    through: &[Arc<TestServer>],
    layers: &Arc<Vec<Blob>>,
    deadline: Instant,
) -> (Vec<Acknowledged>, u64) {
    let pushers = through.len() as u64;
    let handles: Vec<_> = through
        .iter()
        .zip(0..)
        .map(|(s, p)| tokio::spawn(pusher(s.clone(), p, pushers, layers.clone(), deadline)))
        .collect();
    let mut kept = Vec::new();
    let mut refused = 0;
    for handle in handles {
        let (acknowledged, r) = handle.await.unwrap();
        kept.extend(acknowledged);
        refused += r;
    }
    (kept, refused)
}

/// Collections one after the other, with a grace period of 3 ms, until stopped.
pub struct Collector {
    stop: Arc<AtomicBool>,
    collections: Arc<AtomicU64>,
    removed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Collector {
    pub fn start(s: Arc<TestServer>) -> Collector {
        let stop = Arc::new(AtomicBool::new(false));
        let (collections, removed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let task = {
            let (stop, collections, removed) = (stop.clone(), collections.clone(), removed.clone());
            tokio::spawn(async move {
                let options = GcOptions {
                    grace: Duration::from_millis(3),
                    ..GcOptions::default()
                };
                while !stop.load(Ordering::Relaxed) {
                    let report = s.registry.collect_garbage(&options).await.unwrap();
                    collections.fetch_add(1, Ordering::Relaxed);
                    removed.fetch_add(report.blobs.count + report.links.count, Ordering::Relaxed);
                }
            })
        };
        Collector {
            stop,
            collections,
            removed,
            task,
        }
    }

    /// Stops after the collection under way: how many ran, and the links and blobs they
    /// removed.
    pub async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        (
            self.collections.load(Ordering::Relaxed),
            self.removed.load(Ordering::Relaxed),
        )
    }
}

/// Every image of `kept` pulls whole (manifest by tag, each blob) from `s`.
pub async fn assert_pulls_whole(s: &TestServer, kept: &[Acknowledged]) {
    for image in kept {
        let pulled = s.get(&format!("/v2/{}/manifests/{}", image.repo, image.tag)).await;
        assert_eq!(pulled.status(), StatusCode::OK, "{}:{}", image.repo, image.tag);
        assert_eq!(sha256(&pulled.bytes().await.unwrap()), image.manifest.digest);
        for blob in &image.blobs {
            let pulled = s.get(&format!("/v2/{}/blobs/{}", image.repo, blob.digest)).await;
            assert_eq!(
                pulled.status(),
                StatusCode::OK,
                "{} of {}:{}",
                blob.digest,
                image.repo,
                image.tag
            );
            assert_eq!(sha256(&pulled.bytes().await.unwrap()), blob.digest, "{}", blob.digest);
        }
    }
}

/// Once quiet, a collection on `collect_on` takes everything unreferenced, and then one
/// on `check_on` (a dry run) finds nothing left: the two agree.
pub async fn assert_one_collection_leaves_nothing(collect_on: &TestServer, check_on: &TestServer) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let everything = GcOptions {
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    collect_on.registry.collect_garbage(&everything).await.unwrap();
    let again = check_on
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
