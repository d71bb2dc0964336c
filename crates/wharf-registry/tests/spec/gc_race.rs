//! The race every collector must not lose: pushes (with mounts) of images sharing
//! layers, deletes, and collections with a grace period of a few milliseconds, all at
//! once. Every manifest acknowledged (201) and not deleted must then pull whole, and a
//! final collection must leave nothing unreferenced.

use crate::client::header;
use crate::content::{image_json, sha256, Blob, Manifest};
use crate::harness::{files_under, TestServer};
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_registry::registry::gc::GcOptions;

const PUSHERS: u64 = 4;
const RUN_FOR: Duration = Duration::from_secs(6);

/// An image a client was told is stored.
pub struct Acknowledged {
    pub repo: String,
    pub tag: String,
    pub manifest: Manifest,
    pub blobs: Vec<Blob>,
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

/// Pushes images (mounting half the layers from a neighbour) into `team/r{p}` until
/// `deadline`, deleting every third: the images acknowledged and kept, and how many
/// pushes were refused (retryably).
pub async fn pusher(s: Arc<TestServer>, p: u64, layers: Arc<Vec<Blob>>, deadline: Instant) -> (Vec<Acknowledged>, u64) {
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
            let other = format!("team/r{}", (p + 1) % PUSHERS);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_deletes_and_collections_never_lose_an_acknowledged_image() {
    let s = Arc::new(TestServer::start().await);
    // Shared layers, some packed (small) and some files.
    let layers: Arc<Vec<Blob>> = Arc::new(
        (0..6)
            .map(|i| Blob::random(500 + i, 3000 + 40_000 * (i as usize % 3)))
            .collect(),
    );
    let deadline = Instant::now() + RUN_FOR;
    let stop = Arc::new(AtomicBool::new(false));
    let (collections, removed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let collector = {
        let (s, stop, collections, removed) = (s.clone(), stop.clone(), collections.clone(), removed.clone());
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
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| tokio::spawn(pusher(s.clone(), p, layers.clone(), deadline)))
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
        "{} images kept, {refused} pushes refused (retryable), {collections} collections removed {removed} links and blobs",
        kept.len()
    );
    assert!(
        kept.len() >= 20 && collections >= 5 && removed > 0,
        "the race was not exercised"
    );

    for image in &kept {
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

    // Once quiet, one collection leaves only what the kept images use.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let everything = GcOptions {
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    s.registry.collect_garbage(&everything).await.unwrap();
    let again = s
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
