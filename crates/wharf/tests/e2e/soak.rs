//! The soak (issue 19): `wharf serve` under a mixed load for `WHARF_SOAK_SECONDS`
//! (default 100, so that with start-up and the final checks the test takes about two
//! minutes in scripts/test; `scripts/soak MINUTES` sets it), killed with SIGKILL at random moments
//! and restarted over the same data. Three workers, each on its own repositories (so
//! each keeps an exact model of what it was told), push images of mixed sizes
//! (monolithic, chunked, interrupted and resumed), pull with ranges, move tags, delete,
//! walk the catalog and tag lists, and attach and list referrers.
//!
//! At the end: every acknowledged, not deleted manifest pulls whole with the right
//! digests (blobs included); no tag is visible that was never acknowledged (or left in
//! doubt by a kill); RSS and open file descriptors stayed bounded; and no request got a
//! 5xx or a broken connection outside a kill window. A summary is printed.
//!
//! The server collects garbage online all along ([`GC_FLAGS`]: every few seconds, so
//! that kills land in the middle of collections too), keeping untagged manifests (the
//! workers' model says every acknowledged manifest stays until deleted) and with a grace
//! period longer than any push takes: the final checks prove that collections, killed
//! or not, removed nothing reachable. The summary counts the collections that finished.

use crate::harness::{content, content_digest, free_port, http_client, sha256_of, WharfProcess};
use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: u64 = 3;
/// Bounds the server must stay within, whatever the duration.
const MAX_RSS_KIB: u64 = 768 * 1024;
const MAX_FDS: u64 = 512;
/// Online garbage collection during the soak: a collection every 3 s, untagged manifests
/// kept, and links younger than 60 s (longer than any push under load) left alone.
const GC_FLAGS: [&str; 6] = ["--gc-interval", "3s", "--gc-grace", "60s", "--gc-keep-untagged", "true"];
/// What the server logs: warnings, and the line each finished collection writes.
const LOG_FILTER: &str = "warn,wharf_registry::registry::gc=info";

/// xorshift64*: enough randomness for choosing operations, with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    PushMonolithic,
    PushChunked,
    PushResumed,
    Pull,
    TagMove,
    Delete,
    Walk,
    Referrers,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::PushMonolithic => "push-monolithic",
            Op::PushChunked => "push-chunked",
            Op::PushResumed => "push-resumed",
            Op::Pull => "pull",
            Op::TagMove => "tag-move",
            Op::Delete => "delete",
            Op::Walk => "walk",
            Op::Referrers => "referrers",
        }
    }
}

/// The server's state as the kill loop sees it: `epoch` is even while the server is up
/// and odd from a kill until the restarted server listens again.
struct Server {
    port: u16,
    epoch: AtomicU64,
    pid: AtomicU32,
    stop: AtomicBool,
    kills: AtomicU64,
}

impl Server {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Counts and latencies, shared by the workers.
#[derive(Default)]
struct Stats {
    ops: BTreeMap<&'static str, u64>,
    /// Failures inside kill windows, by kind: expected.
    kill_window: BTreeMap<String, u64>,
    /// Failures outside them: each fails the soak.
    unexpected: Vec<String>,
    latencies_ms: Vec<f64>,
}

/// An image a worker pushed, with what its manifest references.
#[derive(Clone)]
struct Image {
    repo: String,
    digest: String,
    bytes: Vec<u8>,
    blobs: Vec<(String, u64, u64)>,
}

/// What one worker knows: images acknowledged (201), tags acknowledged, tags and
/// manifests left in doubt by a kill (the server may or may not have kept them).
#[derive(Default)]
struct Model {
    images: BTreeMap<String, Image>,
    deleted: BTreeSet<String>,
    tags: BTreeMap<(String, String), String>,
    doubtful_tags: BTreeSet<(String, String)>,
    doubtful_deletes: BTreeSet<String>,
}

/// One request's outcome, classified against the kill loop.
enum Outcome<T> {
    Ok(T),
    /// Failed in a kill window: expected, and the operation's effect is in doubt.
    Killed,
}

struct Worker {
    id: u64,
    rng: Rng,
    http: Client,
    server: Arc<Server>,
    stats: Arc<Mutex<Stats>>,
    model: Model,
}

macro_rules! req {
    ($w:expr, $what:expr, $send:expr) => {
        match $w.send($what, $send).await {
            Outcome::Ok(r) => r,
            Outcome::Killed => return Outcome::Killed,
        }
    };
}

impl Worker {
    /// Sends a request; a transport error or a 5xx counts against the server unless a
    /// kill happened while it was in flight.
    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Outcome<reqwest::Response> {
        let before = self.server.epoch.load(Ordering::SeqCst);
        let started = Instant::now();
        let result = request.send().await;
        let after = self.server.epoch.load(Ordering::SeqCst);
        let in_window = before % 2 == 1 || before != after;
        let failure = match &result {
            Ok(r) if r.status().is_server_error() => Some(format!("{what}: {}", r.status())),
            Ok(_) => None,
            Err(e) => Some(format!(
                "{what}: {}",
                if e.is_connect() {
                    "connect"
                } else if e.is_timeout() {
                    "timeout"
                } else {
                    "transport"
                }
            )),
        };
        if let (Some(kind), Err(e), false) = (&failure, &result, in_window) {
            // What the kind alone cannot tell: the error's causes, and how long the
            // request took.
            let mut chain = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                chain.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!(
                "soak: {kind} outside a kill window after {:?}: {chain}",
                started.elapsed()
            );
        }
        let mut stats = self.stats.lock().unwrap();
        match failure {
            None => {
                stats.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                Outcome::Ok(result.unwrap())
            }
            Some(kind) if in_window => {
                *stats
                    .kill_window
                    .entry(kind.split(':').nth(1).unwrap_or("").trim().to_string())
                    .or_default() += 1;
                Outcome::Killed
            }
            Some(kind) => {
                stats.unexpected.push(kind);
                Outcome::Killed
            }
        }
    }

    fn repo(&mut self) -> String {
        format!("soak/w{}/app{}", self.id, self.rng.below(3))
    }

    fn size(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=5 => 1 + self.rng.below(64 * 1024),
            6..=8 => 64 * 1024 + self.rng.below(1 << 20),
            _ => (1 << 20) + self.rng.below(6 << 20),
        }
    }

    /// Pushes blob `seed` of `len` bytes in the given way; `Ok(true)` once it is in.
    async fn push_blob(&mut self, repo: &str, seed: u64, len: u64, how: Op) -> Outcome<()> {
        let base = self.server.base();
        let digest = content_digest(seed, len);
        if how == Op::PushMonolithic {
            let r = req!(
                self,
                "blob POST",
                self.http
                    .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
                    .header("content-type", "application/octet-stream")
                    .body(content(seed, 0..len))
            );
            assert_eq!(r.status(), StatusCode::CREATED, "monolithic push of {digest}");
            return Outcome::Ok(());
        }
        let r = req!(
            self,
            "upload POST",
            self.http.post(format!("{base}/v2/{repo}/blobs/uploads/"))
        );
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let mut location = absolute(&base, r.headers()["location"].to_str().unwrap());
        let chunk = 256 * 1024 + self.rng.below(1 << 20);
        let mut at = 0;
        while at < len {
            let end = len.min(at + chunk);
            let r = req!(
                self,
                "upload PATCH",
                self.http
                    .patch(&location)
                    .header("content-type", "application/octet-stream")
                    .header("content-range", format!("{at}-{}", end - 1))
                    .body(content(seed, at..end))
            );
            assert_eq!(r.status(), StatusCode::ACCEPTED, "PATCH {at}-{end}");
            location = absolute(&base, r.headers()["location"].to_str().unwrap());
            at = end;
            if how == Op::PushResumed && self.rng.below(2) == 0 {
                // A client that lost its place asks where the upload stands, and goes on
                // from there.
                let r = req!(self, "upload GET", self.http.get(&location));
                assert_eq!(r.status(), StatusCode::NO_CONTENT);
                let range = r.headers()["range"].to_str().unwrap().to_string();
                let held: u64 = range.split('-').nth(1).unwrap().parse::<u64>().unwrap() + 1;
                assert_eq!(held, at, "the upload holds what was acknowledged");
                location = absolute(&base, r.headers()["location"].to_str().unwrap());
            }
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = req!(
            self,
            "upload PUT",
            self.http.put(format!("{location}{sep}digest={digest}"))
        );
        assert_eq!(r.status(), StatusCode::CREATED, "closing upload of {digest}");
        Outcome::Ok(())
    }

    async fn push_image(&mut self, how: Op) -> Outcome<()> {
        let repo = self.repo();
        let (seed, len) = (self.rng.next(), self.size());
        let config = format!("{{\"soak\":{}}}", self.rng.next()).into_bytes();
        let config_seedless = sha256_of(&config);
        let base = self.server.base();
        let r = req!(
            self,
            "config POST",
            self.http
                .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={config_seedless}"))
                .body(config.clone())
        );
        assert_eq!(r.status(), StatusCode::CREATED);
        match self.push_blob(&repo, seed, len, how).await {
            Outcome::Ok(()) => {}
            Outcome::Killed => return Outcome::Killed,
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_seedless, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": content_digest(seed, len), "size": len}],
        }))
        .unwrap();
        let tag = format!("t{}", self.rng.below(4));
        self.put_manifest(&repo, &tag, manifest, vec![(content_digest(seed, len), seed, len)])
            .await
    }

    async fn put_manifest(
        &mut self,
        repo: &str,
        tag: &str,
        bytes: Vec<u8>,
        blobs: Vec<(String, u64, u64)>,
    ) -> Outcome<()> {
        let digest = sha256_of(&bytes);
        let key = (repo.to_string(), tag.to_string());
        self.model.doubtful_tags.insert(key.clone());
        let base = self.server.base();
        let r = req!(
            self,
            "manifest PUT",
            self.http
                .put(format!("{base}/v2/{repo}/manifests/{tag}"))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(bytes.clone())
        );
        assert_eq!(r.status(), StatusCode::CREATED, "manifest PUT: {:?}", r.text().await);
        self.model.doubtful_tags.remove(&key);
        self.model.tags.insert(key, digest.clone());
        self.model.deleted.remove(&digest);
        self.model.images.insert(
            digest.clone(),
            Image {
                repo: repo.to_string(),
                digest,
                bytes,
                blobs,
            },
        );
        Outcome::Ok(())
    }

    fn live_image(&mut self) -> Option<Image> {
        let live: Vec<&Image> = self
            .model
            .images
            .values()
            .filter(|i| !self.model.deleted.contains(&i.digest) && !self.model.doubtful_deletes.contains(&i.digest))
            .collect();
        if live.is_empty() {
            return None;
        }
        let i = self.rng.below(live.len() as u64) as usize;
        Some(live[i].clone())
    }

    async fn pull(&mut self) -> Outcome<()> {
        let Some(image) = self.live_image() else {
            return Outcome::Ok(());
        };
        let base = self.server.base();
        let r = req!(
            self,
            "manifest GET",
            self.http
                .get(format!("{base}/v2/{}/manifests/{}", image.repo, image.digest))
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(r.status(), StatusCode::OK, "pull of acknowledged {}", image.digest);
        assert_eq!(r.headers()["docker-content-digest"].to_str().unwrap(), image.digest);
        let body = match r.bytes().await {
            Ok(b) => b,
            Err(_) => return Outcome::Killed,
        };
        assert_eq!(sha256_of(&body), image.digest);
        if let Some((digest, seed, len)) = image.blobs.first().cloned() {
            let a = self.rng.below(len);
            let b = a + self.rng.below(len - a);
            let r = req!(
                self,
                "blob GET range",
                self.http
                    .get(format!("{base}/v2/{}/blobs/{digest}", image.repo))
                    .header("range", format!("bytes={a}-{b}"))
            );
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
            match r.bytes().await {
                Ok(got) => assert!(got[..] == content(seed, a..b + 1)[..], "range {a}-{b} of {digest}"),
                Err(_) => return Outcome::Killed,
            }
        }
        Outcome::Ok(())
    }

    async fn tag_move(&mut self) -> Outcome<()> {
        let Some(image) = self.live_image() else {
            return Outcome::Ok(());
        };
        let tag = format!("t{}", self.rng.below(4));
        self.put_manifest(&image.repo, &tag, image.bytes.clone(), image.blobs.clone())
            .await
    }

    async fn delete(&mut self) -> Outcome<()> {
        let Some(image) = self.live_image() else {
            return Outcome::Ok(());
        };
        // Referrers of it stay listed only while it exists: keep it simple and delete
        // images only.
        self.model.doubtful_deletes.insert(image.digest.clone());
        let base = self.server.base();
        let r = req!(
            self,
            "manifest DELETE",
            self.http
                .delete(format!("{base}/v2/{}/manifests/{}", image.repo, image.digest))
        );
        assert_eq!(r.status(), StatusCode::ACCEPTED, "delete of {}", image.digest);
        self.model.doubtful_deletes.remove(&image.digest);
        self.model.deleted.insert(image.digest.clone());
        self.model.tags.retain(|_, d| *d != image.digest);
        Outcome::Ok(())
    }

    async fn walk(&mut self) -> Outcome<()> {
        let base = self.server.base();
        let mut next = Some(format!("{base}/v2/_catalog?n=2"));
        while let Some(url) = next.take() {
            let r = req!(self, "catalog GET", self.http.get(&url));
            assert_eq!(r.status(), StatusCode::OK);
            next = link(&base, &r);
        }
        let repo = self.repo();
        let mut next = Some(format!("{base}/v2/{repo}/tags/list?n=1"));
        while let Some(url) = next.take() {
            let r = req!(self, "tags GET", self.http.get(&url));
            assert!(r.status() == StatusCode::OK || r.status() == StatusCode::NOT_FOUND);
            next = link(&base, &r);
        }
        Outcome::Ok(())
    }

    async fn referrers(&mut self) -> Outcome<()> {
        let Some(subject) = self.live_image() else {
            return Outcome::Ok(());
        };
        let base = self.server.base();
        let empty = b"{}";
        let r = req!(
            self,
            "empty POST",
            self.http
                .post(format!(
                    "{base}/v2/{}/blobs/uploads/?digest={}",
                    subject.repo,
                    sha256_of(empty)
                ))
                .body(empty.to_vec())
        );
        assert_eq!(r.status(), StatusCode::CREATED);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/x.soak",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_of(empty), "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.digest, "size": subject.bytes.len()},
            "annotations": {"n": self.rng.next().to_string()},
        }))
        .unwrap();
        let digest = sha256_of(&manifest);
        let r = req!(
            self,
            "referrer PUT",
            self.http
                .put(format!("{base}/v2/{}/manifests/{digest}", subject.repo))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(manifest)
        );
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = req!(
            self,
            "referrers GET",
            self.http
                .get(format!("{base}/v2/{}/referrers/{}", subject.repo, subject.digest))
        );
        assert_eq!(r.status(), StatusCode::OK);
        let listed: serde_json::Value = match r.json().await {
            Ok(v) => v,
            Err(_) => return Outcome::Killed,
        };
        let found = listed["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["digest"] == digest);
        assert!(found, "referrer {digest} of {} listed", subject.digest);
        Outcome::Ok(())
    }

    async fn run(mut self, until: Instant) -> Model {
        while Instant::now() < until {
            let op = match self.rng.below(20) {
                0..=2 => Op::PushMonolithic,
                3..=4 => Op::PushChunked,
                5 => Op::PushResumed,
                6..=10 => Op::Pull,
                11..=12 => Op::TagMove,
                13 => Op::Delete,
                14..=16 => Op::Walk,
                _ => Op::Referrers,
            };
            let outcome = match op {
                Op::PushMonolithic | Op::PushChunked | Op::PushResumed => self.push_image(op).await,
                Op::Pull => self.pull().await,
                Op::TagMove => self.tag_move().await,
                Op::Delete => self.delete().await,
                Op::Walk => self.walk().await,
                Op::Referrers => self.referrers().await,
            };
            if let Outcome::Killed = outcome {
                // Wait for the server to come back before the next operation.
                while self.server.epoch.load(Ordering::SeqCst) % 2 == 1 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            *self.stats.lock().unwrap().ops.entry(op.name()).or_default() += 1;
        }
        self.model
    }
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// The `Link: <…>; rel="next"` of a page, as an absolute URL.
fn link(base: &str, r: &reqwest::Response) -> Option<String> {
    let value = r.headers().get("link")?.to_str().ok()?;
    let path = value.split('<').nth(1)?.split('>').next()?;
    Some(absolute(base, path))
}

/// VmRSS in KiB and the number of open descriptors of `pid`.
fn rss_and_fds(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_kills() {
    let seconds: u64 = std::env::var("WHARF_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let log = dir.path().join("server.log");
    let first = WharfProcess::start_on_appending_log(port, &data, &GC_FLAGS, LOG_FILTER, &log);
    let server = Arc::new(Server {
        port,
        epoch: AtomicU64::new(0),
        pid: AtomicU32::new(first.child.id()),
        stop: AtomicBool::new(false),
        kills: AtomicU64::new(0),
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("soak: {seconds} s, seed {seed}, data in {}", data.display());

    // The kill loop: SIGKILL every 4-12 s, restart over the same data.
    let killer = {
        let server = server.clone();
        let (data, log) = (data.clone(), log.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed ^ 0xdead_beef);
            let mut process = first;
            loop {
                let wait = Instant::now() + Duration::from_millis(4000 + rng.below(8000));
                while Instant::now() < wait && !server.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if server.stop.load(Ordering::SeqCst) {
                    return process;
                }
                server.epoch.fetch_add(1, Ordering::SeqCst);
                process.kill();
                server.kills.fetch_add(1, Ordering::SeqCst);
                process = WharfProcess::start_on_appending_log(server.port, &data, &GC_FLAGS, LOG_FILTER, &log);
                server.pid.store(process.child.id(), Ordering::SeqCst);
                server.epoch.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    // RSS and descriptors, sampled twice a second.
    let high_water = Arc::new(Mutex::new((0u64, 0u64)));
    let sampler = {
        let (server, high_water) = (server.clone(), high_water.clone());
        tokio::spawn(async move {
            while !server.stop.load(Ordering::SeqCst) {
                if let Some((rss, fds)) = rss_and_fds(server.pid.load(Ordering::SeqCst)) {
                    let mut hw = high_water.lock().unwrap();
                    *hw = (hw.0.max(rss), hw.1.max(fds));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    let stats = Arc::new(Mutex::new(Stats::default()));
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let worker = Worker {
                id,
                rng: Rng(seed.wrapping_add(id.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1),
                http: http_client(),
                server: server.clone(),
                stats: stats.clone(),
                model: Model::default(),
            };
            tokio::spawn(worker.run(until))
        })
        .collect();
    let mut models = Vec::new();
    for w in workers {
        models.push(w.await.expect("a worker panicked: see its assertion above"));
    }
    server.stop.store(true, Ordering::SeqCst);
    let process = killer.join().unwrap();
    sampler.await.unwrap();

    // The final checks, on a server that is up and no longer killed.
    let http = http_client();
    let base = server.base();
    let (mut manifests, mut blobs, mut tags) = (0, 0, 0);
    for model in &models {
        for image in model.images.values() {
            if model.deleted.contains(&image.digest) || model.doubtful_deletes.contains(&image.digest) {
                continue;
            }
            let r = http
                .get(format!("{base}/v2/{}/manifests/{}", image.repo, image.digest))
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "acknowledged manifest {} lost",
                image.digest
            );
            assert_eq!(sha256_of(&r.bytes().await.unwrap()), image.digest);
            manifests += 1;
            for (digest, _, len) in &image.blobs {
                let r = http
                    .get(format!("{base}/v2/{}/blobs/{digest}", image.repo))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK, "blob {digest} of {} lost", image.digest);
                let mut body = r.bytes_stream();
                let mut hasher = sha2::Sha256::default();
                let mut got = 0u64;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.unwrap();
                    got += chunk.len() as u64;
                    sha2::Digest::update(&mut hasher, &chunk);
                }
                let hex: String = sha2::Digest::finalize(hasher)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(
                    (format!("sha256:{hex}"), got),
                    (digest.clone(), *len),
                    "blob {digest} complete"
                );
                blobs += 1;
            }
        }
        for ((repo, tag), digest) in &model.tags {
            if model.doubtful_tags.contains(&(repo.clone(), tag.clone())) || model.doubtful_deletes.contains(digest) {
                continue;
            }
            let r = http
                .head(format!("{base}/v2/{repo}/manifests/{tag}"))
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "acknowledged tag {repo}:{tag}");
            assert_eq!(
                r.headers()["docker-content-digest"].to_str().unwrap(),
                digest,
                "{repo}:{tag} points where it was last moved"
            );
            tags += 1;
        }
        // Nothing unacknowledged is visible: every listed tag was acknowledged or left
        // in doubt by a kill.
        let repos: BTreeSet<&String> = model.images.values().map(|i| &i.repo).collect();
        for repo in repos {
            let r = http.get(format!("{base}/v2/{repo}/tags/list")).send().await.unwrap();
            let listed: serde_json::Value = r.json().await.unwrap_or_default();
            for tag in listed["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str())
            {
                let key = (repo.clone(), tag.to_string());
                assert!(
                    model.tags.contains_key(&key) || model.doubtful_tags.contains(&key),
                    "tag {repo}:{tag} was never acknowledged"
                );
            }
        }
    }
    drop(process);

    let stats = stats.lock().unwrap();
    let mut latencies = stats.latencies_ms.clone();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let (rss, fds) = *high_water.lock().unwrap();
    println!(
        "soak summary ({seconds} s, {} kills, {} workers):",
        server.kills.load(Ordering::SeqCst),
        WORKERS
    );
    println!("  operations: {:?}", stats.ops);
    println!(
        "  requests: {} answered, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    println!("  errors in kill windows (expected): {:?}", stats.kill_window);
    println!("  errors outside kill windows: {}", stats.unexpected.len());
    let collections = collections_logged(&log);
    println!(
        "  garbage collections finished: {}, {} blobs and {} bytes freed",
        collections.runs, collections.blobs, collections.bytes
    );
    println!("  high-water marks: RSS {} MiB, {} open descriptors", rss / 1024, fds);
    println!("  verified at the end: {manifests} manifests, {blobs} blobs, {tags} tags");
    assert!(
        stats.unexpected.is_empty(),
        "failures outside kill windows: {:?}",
        stats.unexpected
    );
    assert!(rss < MAX_RSS_KIB, "RSS reached {rss} KiB");
    assert!(fds < MAX_FDS, "{fds} descriptors open");
    assert!(manifests > 0, "the soak verified nothing");
}

/// What the server's log says its finished collections did.
#[derive(Default)]
struct Collections {
    runs: u64,
    blobs: u64,
    bytes: u64,
}

fn collections_logged(log: &std::path::Path) -> Collections {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let field = |line: &str, name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    let mut collections = Collections::default();
    for line in text.lines().filter(|l| l.contains("garbage collection")) {
        collections.runs += 1;
        collections.blobs += field(line, "blobs");
        collections.bytes += field(line, "bytes");
    }
    collections
}
