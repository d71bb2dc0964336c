//! Many concurrent small pushes and tag creations across a SIGKILL.
//!
//! Durable commits are grouped: blob links and tags of concurrent requests share one
//! sync of the metadata log, and a caller hears back only once the group holding its
//! write is durable. Here 32 clients push 4 KiB blobs (POST + monolithic PUT) and tag
//! manifests as fast as they can; the server is killed mid-traffic, twice, and
//! restarted over the same data directory. Every blob and tag acknowledged before the
//! kill must then be served with exactly its bytes, and every blob file must hash to
//! its name.

use crate::harness::{
    absolute, assert_stored_blobs_match_names, content, fetch_hashed, http_client, sha256_of, with_digest, WharfProcess,
};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Client, StatusCode};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: u64 = 32;
const BLOB: u64 = 4096;
/// Acknowledged pushes after which each round's kill strikes.
const KILL_AFTER: [usize; 2] = [150, 400];
const REPO: &str = "crash/small";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Default)]
struct Acked {
    /// (digest, seed) of acknowledged blobs.
    blobs: Vec<(String, u64)>,
    /// (tag, manifest bytes) of acknowledged tags.
    tags: Vec<(String, Bytes)>,
}

struct Traffic {
    base: String,
    next_seed: AtomicU64,
    acks: AtomicUsize,
    stop: AtomicBool,
    acked: Mutex<Acked>,
}

/// Pushes one small blob; `Ok(false)` if the server went away on the way.
async fn push_small(http: &Client, t: &Traffic, seed: u64) -> bool {
    let bytes = Bytes::from(content(seed, 0..BLOB));
    let digest = sha256_of(&bytes);
    let Ok(started) = http.post(format!("{}/v2/{REPO}/blobs/uploads/", t.base)).send().await else {
        return false;
    };
    assert_eq!(started.status(), StatusCode::ACCEPTED, "POST");
    let location = absolute(&t.base, started.headers()[LOCATION].to_str().unwrap());
    let put = http
        .put(with_digest(&location, &digest))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(bytes)
        .send()
        .await;
    let Ok(put) = put else { return false };
    assert_eq!(put.status(), StatusCode::CREATED, "PUT of {digest}");
    t.acked.lock().unwrap().blobs.push((digest, seed));
    t.acks.fetch_add(1, Ordering::SeqCst);
    true
}

/// Tags a manifest whose config and layer is the acknowledged blob `seed`.
async fn push_tag(http: &Client, t: &Traffic, seed: u64) -> bool {
    let digest = sha256_of(&content(seed, 0..BLOB));
    let descriptor = |media_type: &str| serde_json::json!({ "mediaType": media_type, "digest": digest, "size": BLOB });
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar")],
    });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let tag = format!("s{seed}");
    let put = http
        .put(format!("{}/v2/{REPO}/manifests/{tag}", t.base))
        .header(CONTENT_TYPE, OCI_MANIFEST)
        .body(bytes.clone())
        .send()
        .await;
    let Ok(put) = put else { return false };
    assert_eq!(put.status(), StatusCode::CREATED, "PUT of tag {tag}");
    t.acked.lock().unwrap().tags.push((tag, bytes));
    true
}

async fn client(http: Client, t: Arc<Traffic>) {
    while !t.stop.load(Ordering::SeqCst) {
        let seed = t.next_seed.fetch_add(1, Ordering::SeqCst);
        if !push_small(&http, &t, seed).await {
            return;
        }
        if seed.is_multiple_of(4) && !push_tag(&http, &t, seed).await {
            return;
        }
    }
}

async fn assert_acked_intact(http: &Client, base: &str, acked: &Acked) {
    for (digest, _) in &acked.blobs {
        let fetched = fetch_hashed(http, &format!("{base}/v2/{REPO}/blobs/{digest}"))
            .await
            .unwrap();
        assert_eq!(
            fetched.status,
            StatusCode::OK,
            "acknowledged blob {digest} after the kill"
        );
        assert_eq!((fetched.digest.as_str(), fetched.len), (digest.as_str(), BLOB));
    }
    for (tag, bytes) in &acked.tags {
        let got = http
            .get(format!("{base}/v2/{REPO}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "acknowledged tag {tag} after the kill");
        assert_eq!(&got.bytes().await.unwrap(), bytes, "tag {tag} holds its manifest");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_small_pushes_and_tags_acknowledged_before_sigkill_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &[]);
    let next_seed = Arc::new(AtomicU64::new(1 << 40));
    let mut all = Acked::default();
    for (round, &kill_after) in KILL_AFTER.iter().enumerate() {
        let t = Arc::new(Traffic {
            base: wharf.url(),
            next_seed: AtomicU64::new(next_seed.load(Ordering::SeqCst)),
            acks: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            acked: Mutex::default(),
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| tokio::spawn(client(http_client(), t.clone())))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while t.acks.load(Ordering::SeqCst) < kill_after {
            assert!(Instant::now() < deadline, "round {round}: too few pushes acknowledged");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        wharf.kill();
        t.stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.await.unwrap();
        }
        next_seed.store(t.next_seed.load(Ordering::SeqCst), Ordering::SeqCst);
        let acked = std::mem::take(&mut *t.acked.lock().unwrap());
        all.blobs.extend(acked.blobs);
        all.tags.extend(acked.tags);
        wharf = WharfProcess::start_on(wharf.port, dir.path(), &[]);
        let http = http_client();
        assert_acked_intact(&http, &wharf.url(), &all).await;
        let files = assert_stored_blobs_match_names(&wharf.data_dir);
        assert!(
            files >= all.blobs.len(),
            "{files} stored blobs for {} blobs",
            all.blobs.len()
        );
        eprintln!(
            "small-push crash round {round}: {} blobs and {} tags acknowledged so far, all intact",
            all.blobs.len(),
            all.tags.len()
        );
    }
    assert!(
        wharf.terminate().success(),
        "wharf exits cleanly after the crash rounds"
    );
}
