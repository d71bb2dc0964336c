//! Crash safety of `wharf serve`.
//!
//! Concurrent clients push blobs (monolithic, single POST, chunked; a few KiB to 64 MiB)
//! and tagged manifests; the server is SIGKILLed mid-traffic and restarted over the same
//! data directory, three times at different moments. After each restart:
//! - every acknowledged (201) blob and manifest is served with exactly its bytes;
//! - a push the kill interrupted is either wholly present or absent, never partial, and
//!   absent if its closing request was never sent;
//! - every file under `blobs/` hashes to its name;
//! - an interrupted session resumes correctly or is 404 BLOB_UPLOAD_UNKNOWN, and the push
//!   restarted from scratch succeeds.
//!
//! A second test pushes one blob and one tag from two clients at once.

use crate::harness::{
    absolute, assert_stored_blobs_match_names, content, fetch_hashed, http_client, open_upload, sha256_of, with_digest,
    Fetched, WharfProcess,
};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Client, StatusCode};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Concurrent clients, each pushing to its own repository.
const CLIENTS: u64 = 4;
/// One round per entry: the server is killed once this many pushes were acknowledged in
/// the round, at that moment of a request.
const KILLS: [(usize, Moment); 3] = [(2, Moment::MidBody), (9, Moment::Committing), (20, Moment::MidBody)];
/// Blob sizes the clients cycle through, deliberately unaligned.
const SIZES: [u64; 7] = [3_001, 64 << 20, 150_001, 1 << 20, (24 << 20) + 7, 9_999, 7 << 20];
/// Bodies are sent in pieces of this size.
const PIECE: usize = 256 << 10;
/// Chunk size of chunked uploads.
const CHUNK: u64 = 5 << 20;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A blob a test pushes: its content is regenerated from `seed` when needed.
#[derive(Debug, Clone)]
struct Blob {
    repo: String,
    seed: u64,
    len: u64,
    digest: String,
}

impl Blob {
    fn generate(repo: &str, seed: u64, len: u64) -> Blob {
        let digest = sha256_of(&content(seed, 0..len));
        Blob {
            repo: repo.to_string(),
            seed,
            len,
            digest,
        }
    }

    fn bytes(&self) -> Bytes {
        content(self.seed, 0..self.len).into()
    }

    fn url(&self, base: &str) -> String {
        format!("{base}/v2/{}/blobs/{}", self.repo, self.digest)
    }

    fn expected_fetch(&self) -> Fetched {
        Fetched {
            status: StatusCode::OK,
            digest: self.digest.clone(),
            len: self.len,
        }
    }
}

/// A manifest pushed under a tag.
#[derive(Debug, Clone)]
struct Manifest {
    repo: String,
    tag: String,
    bytes: Bytes,
    digest: String,
}

impl Manifest {
    /// An image manifest with `config` as its config and `layers` as its layers.
    fn new(repo: &str, tag: &str, config: &Blob, layers: &[&Blob], note: &str) -> Manifest {
        let descriptor = |media_type: &str, b: &Blob| serde_json::json!({ "mediaType": media_type, "digest": b.digest, "size": b.len });
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
            "annotations": { "org.example.note": note },
        });
        let bytes = Bytes::from(serde_json::to_vec(&json).unwrap());
        Manifest {
            repo: repo.to_string(),
            tag: tag.to_string(),
            digest: sha256_of(&bytes),
            bytes,
        }
    }

    fn url(&self, base: &str, reference: &str) -> String {
        format!("{base}/v2/{}/manifests/{reference}", self.repo)
    }
}

/// When in a request the kill strikes.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// While a request body is being sent.
    MidBody,
    /// After a closing request (the one that makes a blob exist) was sent whole, before
    /// its answer: while wharf verifies, fsyncs, renames and links.
    Committing,
}

/// How a blob is pushed.
#[derive(Debug, Clone, Copy)]
enum Method {
    /// POST, then PUT with the whole body.
    Monolithic,
    /// POST with `?digest=` and the whole body.
    SinglePost,
    /// POST, PATCH chunks of [`CHUNK`] bytes, PUT with no body.
    Chunked,
}

impl Method {
    fn nth(i: u64) -> Method {
        [Method::Monolithic, Method::Chunked, Method::SinglePost][(i % 3) as usize]
    }
}

/// How far a push got: its session, and whether its closing request was sent.
#[derive(Debug, Default)]
struct Progress {
    session: Option<String>,
    closing: bool,
}

/// A push the kill interrupted.
#[derive(Debug)]
enum Cut {
    Blob { blob: Blob, progress: Progress },
    Manifest(Manifest),
}

/// What the clients were told: acknowledged pushes and interrupted ones.
#[derive(Debug, Default)]
struct Ledger {
    blobs: Vec<Blob>,
    manifests: Vec<Manifest>,
    cuts: Vec<Cut>,
}

/// The state clients share during one round of traffic.
struct Traffic {
    base: String,
    ledger: Mutex<Ledger>,
    acks: AtomicUsize,
    bodies_in_flight: AtomicUsize,
    committing: AtomicUsize,
    killed: AtomicBool,
}

/// Counts one request body as being sent until dropped.
struct BodyInFlight(Arc<Traffic>);

impl BodyInFlight {
    fn enter(traffic: &Arc<Traffic>) -> BodyInFlight {
        traffic.bodies_in_flight.fetch_add(1, Ordering::SeqCst);
        BodyInFlight(traffic.clone())
    }
}

impl Drop for BodyInFlight {
    fn drop(&mut self) {
        self.0.bodies_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a closing request as committing from its last body byte until dropped (when
/// its answer came or it failed).
struct Committing {
    traffic: Arc<Traffic>,
    counted: AtomicBool,
}

impl Committing {
    fn mark(&self) {
        if !self.counted.swap(true, Ordering::SeqCst) {
            self.traffic.committing.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Committing {
    fn drop(&mut self) {
        if self.counted.load(Ordering::SeqCst) {
            self.traffic.committing.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Traffic {
    fn new(base: String) -> Arc<Traffic> {
        Arc::new(Traffic {
            base,
            ledger: Mutex::default(),
            acks: AtomicUsize::new(0),
            bodies_in_flight: AtomicUsize::new(0),
            committing: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
        })
    }

    /// `data` as a streamed body of [`PIECE`]-sized pieces, counted in flight from its
    /// first piece until reqwest drops it. `committing`, if still alive, is marked once the
    /// last piece is handed over.
    fn body(self: &Arc<Self>, data: Bytes, committing: Weak<Committing>) -> reqwest::Body {
        let pieces: Vec<Bytes> = (0..data.len())
            .step_by(PIECE)
            .map(|at| data.slice(at..data.len().min(at + PIECE)))
            .collect();
        let count = pieces.len();
        if count == 0 {
            committing.upgrade().inspect(|c| c.mark());
        }
        let traffic = self.clone();
        let mut in_flight = None;
        let stream = futures::stream::iter(pieces).enumerate().map(move |(i, piece)| {
            in_flight.get_or_insert_with(|| BodyInFlight::enter(&traffic));
            if i + 1 == count {
                committing.upgrade().inspect(|c| c.mark());
            }
            Ok::<_, std::io::Error>(piece)
        });
        reqwest::Body::wrap_stream(stream)
    }

    /// Sends `request` with `data`, the closing request of a push, counting it as
    /// committing between its last body byte and its answer.
    async fn send_closing(
        self: &Arc<Self>,
        request: reqwest::RequestBuilder,
        data: Bytes,
    ) -> reqwest::Result<reqwest::Response> {
        let committing = Arc::new(Committing {
            traffic: self.clone(),
            counted: AtomicBool::new(false),
        });
        let len = data.len();
        let body = self.body(data, Arc::downgrade(&committing));
        request.header(CONTENT_LENGTH, len).body(body).send().await
    }

    /// Whether the kill may strike now.
    fn at(&self, moment: Moment) -> bool {
        match moment {
            Moment::MidBody => self.bodies_in_flight.load(Ordering::SeqCst) > 0,
            Moment::Committing => self.committing.load(Ordering::SeqCst) > 0,
        }
    }

    fn acknowledge(&self, record: impl FnOnce(&mut Ledger)) {
        record(&mut self.ledger.lock().unwrap());
        self.acks.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a push that failed at the transport level: only the kill may cause that.
    fn cut(&self, error: reqwest::Error, cut: Cut) {
        assert!(
            self.killed.load(Ordering::SeqCst),
            "request failed while wharf was running: {error} ({cut:?})"
        );
        self.ledger.lock().unwrap().cuts.push(cut);
    }
}

/// Asserts a 201 whose `Docker-Content-Digest` is `digest`.
async fn expect_created(response: reqwest::Response, digest: &str, what: &str) {
    let status = response.status();
    let header = response
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "{what}: {body}");
    assert_eq!(header.as_deref(), Some(digest), "{what}: Docker-Content-Digest");
}

/// Pushes `blob` by `method`, asserting every answer; a transport error is returned with
/// `progress` telling how far the push got.
async fn push_blob(
    http: &Client,
    traffic: &Arc<Traffic>,
    blob: &Blob,
    method: Method,
    progress: &mut Progress,
) -> reqwest::Result<()> {
    let base = &traffic.base;
    let data = blob.bytes();
    let what = format!(
        "{method:?} push of {} ({} bytes) to {}",
        blob.digest, blob.len, blob.repo
    );
    if let Method::SinglePost = method {
        progress.closing = true;
        let url = with_digest(&format!("{base}/v2/{}/blobs/uploads/", blob.repo), &blob.digest);
        let response = traffic.send_closing(http.post(url), data).await?;
        expect_created(response, &blob.digest, &what).await;
        return Ok(());
    }
    let mut location = open_upload(http, base, &blob.repo).await?;
    progress.session = Some(location.clone());
    let last_body = match method {
        Method::Monolithic => data,
        _ => {
            for at in (0..blob.len).step_by(CHUNK as usize) {
                let end = blob.len.min(at + CHUNK);
                let chunk = traffic.body(data.slice(at as usize..end as usize), Weak::new());
                location = patch_chunk(http, base, &location, at..end, chunk).await?;
                progress.session = Some(location.clone());
            }
            Bytes::new()
        }
    };
    progress.closing = true;
    let response = traffic
        .send_closing(http.put(with_digest(&location, &blob.digest)), last_body)
        .await?;
    expect_created(response, &blob.digest, &what).await;
    Ok(())
}

/// Sends bytes `range` of an upload as one PATCH; returns the session's next location.
async fn patch_chunk(
    http: &Client,
    base: &str,
    location: &str,
    range: std::ops::Range<u64>,
    body: reqwest::Body,
) -> reqwest::Result<String> {
    let response = http
        .patch(location)
        .header(CONTENT_RANGE, format!("{}-{}", range.start, range.end - 1))
        .header(CONTENT_LENGTH, range.end - range.start)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "PATCH {range:?}: {}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(
        headers[RANGE],
        format!("0-{}", range.end - 1).as_str(),
        "Range after PATCH {range:?}"
    );
    Ok(absolute(base, headers[LOCATION].to_str().unwrap()))
}

async fn put_manifest(http: &Client, base: &str, manifest: &Manifest) -> reqwest::Result<()> {
    let response = http
        .put(manifest.url(base, &manifest.tag))
        .header(CONTENT_TYPE, OCI_MANIFEST)
        .body(manifest.bytes.clone())
        .send()
        .await?;
    expect_created(
        response,
        &manifest.digest,
        &format!("manifest push to {}:{}", manifest.repo, manifest.tag),
    )
    .await;
    Ok(())
}

/// One client's traffic in round `round`: blobs of cycling sizes and methods, and after
/// every third blob a manifest of the last two, until a request fails (the kill).
async fn client_traffic(traffic: Arc<Traffic>, round: u64, client: u64) {
    let http = http_client();
    let repo = format!("crash/client-{client}");
    let mut pushed: Vec<Blob> = Vec::new();
    for i in 0u64.. {
        let seed = (round + 1) * 1_000_000 + client * 1_000 + i;
        let blob = Blob::generate(&repo, seed, SIZES[(i + client) as usize % SIZES.len()]);
        let mut progress = Progress::default();
        if let Err(e) = push_blob(&http, &traffic, &blob, Method::nth(i), &mut progress).await {
            return traffic.cut(e, Cut::Blob { blob, progress });
        }
        traffic.acknowledge(|l| l.blobs.push(blob.clone()));
        pushed.push(blob);
        if i % 3 == 2 {
            let tag = format!("r{round}-c{client}-m{i}");
            let [.., config, layer] = &pushed[..] else {
                unreachable!("three blobs were pushed")
            };
            let manifest = Manifest::new(&repo, &tag, config, &[layer], &tag);
            if let Err(e) = put_manifest(&http, &traffic.base, &manifest).await {
                return traffic.cut(e, Cut::Manifest(manifest));
            }
            traffic.acknowledge(|l| l.manifests.push(manifest));
        }
    }
}

/// Runs the clients until `acks` pushes were acknowledged and a body is being sent,
/// then SIGKILLs wharf; returns what the clients were told.
async fn traffic_until_kill(wharf: &mut WharfProcess, round: u64, (acks, moment): (usize, Moment)) -> Ledger {
    let traffic = Traffic::new(wharf.url());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client_traffic(traffic.clone(), round, c)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while traffic.acks.load(Ordering::SeqCst) < acks || !traffic.at(moment) {
        assert!(
            Instant::now() < deadline,
            "round {round}: {acks} acknowledgements and a request {moment:?} not seen within 20 s"
        );
        if let Some(finished) = clients.iter().position(|c| c.is_finished()) {
            panic!("round {round}: client {finished} stopped before the kill");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    traffic.killed.store(true, Ordering::SeqCst);
    wharf.kill();
    for client in clients {
        tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("clients stop once wharf is killed")
            .expect("client traffic asserts hold");
    }
    let told = std::mem::take(&mut *traffic.ledger.lock().unwrap());
    told
}

/// Every acknowledged blob and manifest (by digest and by tag) is served exactly.
async fn assert_acknowledged_intact(http: &Client, base: &str, ledger: &Ledger) {
    for blob in &ledger.blobs {
        let fetched = fetch_hashed(http, &blob.url(base)).await.unwrap();
        assert_eq!(
            fetched,
            blob.expected_fetch(),
            "acknowledged blob {} in {}",
            blob.digest,
            blob.repo
        );
    }
    for manifest in &ledger.manifests {
        for reference in [&manifest.digest, &manifest.tag] {
            let response = http.get(manifest.url(base, reference)).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "acknowledged manifest {}:{reference}",
                manifest.repo
            );
            assert_eq!(
                response.bytes().await.unwrap(),
                manifest.bytes,
                "manifest {}:{reference}",
                manifest.repo
            );
        }
    }
}

/// An interrupted push is wholly there or absent (absent unless its closing request
/// was sent).
async fn assert_cut_whole_or_absent(http: &Client, base: &str, cut: &Cut) {
    match cut {
        Cut::Blob { blob, progress } => {
            let status = http.head(blob.url(base)).send().await.unwrap().status();
            match status {
                StatusCode::NOT_FOUND => {}
                StatusCode::OK if progress.closing => {
                    let fetched = fetch_hashed(http, &blob.url(base)).await.unwrap();
                    assert_eq!(
                        fetched,
                        blob.expected_fetch(),
                        "interrupted blob {} is partial",
                        blob.digest
                    );
                }
                other => panic!(
                    "interrupted blob {} (closing sent: {}) answers HEAD {other}",
                    blob.digest, progress.closing
                ),
            }
        }
        Cut::Manifest(manifest) => {
            let response = http.get(manifest.url(base, &manifest.tag)).send().await.unwrap();
            match response.status() {
                StatusCode::NOT_FOUND => {}
                StatusCode::OK => assert_eq!(response.bytes().await.unwrap(), manifest.bytes, "interrupted manifest"),
                other => panic!(
                    "interrupted manifest {}:{} answers {other}",
                    manifest.repo, manifest.tag
                ),
            }
        }
    }
}

/// The session an interrupted upload had either continues to a correct blob or is
/// 404 BLOB_UPLOAD_UNKNOWN; never a 5xx. Returns whether it continued.
async fn resume_session(http: &Client, base: &str, blob: &Blob, session: &str) -> bool {
    let response = http.get(session).send().await.unwrap();
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        let body = response.text().await.unwrap();
        assert!(body.contains("BLOB_UPLOAD_UNKNOWN"), "unknown session answers {body}");
        return false;
    }
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "status of interrupted session {session}"
    );
    // `0-0` is what an empty session answers; no upload here stops after one byte.
    let range = response.headers()[RANGE].to_str().unwrap().to_string();
    let last: u64 = range
        .strip_prefix("0-")
        .and_then(|l| l.parse().ok())
        .expect("Range is 0-<last>");
    let offset = if last == 0 { 0 } else { last + 1 };
    assert!(
        offset <= blob.len,
        "session {session} holds {offset} bytes of a {}-byte blob",
        blob.len
    );
    let mut location = session.to_string();
    if offset < blob.len {
        let rest = Bytes::from(content(blob.seed, offset..blob.len));
        location = patch_chunk(http, base, session, offset..blob.len, rest.into())
            .await
            .unwrap();
    }
    let response = http
        .put(with_digest(&location, &blob.digest))
        .header(CONTENT_LENGTH, 0)
        .send()
        .await
        .unwrap();
    expect_created(response, &blob.digest, "closing a resumed session").await;
    assert_eq!(
        fetch_hashed(http, &blob.url(base)).await.unwrap(),
        blob.expected_fetch(),
        "resumed blob"
    );
    true
}

/// Checks and then completes every interrupted push: resumes its session if it had one,
/// and pushes it again from scratch. Returns how many sessions resumed.
async fn complete_cuts(http: &Client, base: &str, cuts: Vec<Cut>, ledger: &mut Ledger) -> usize {
    let traffic = Traffic::new(base.to_string());
    let mut resumed = 0;
    for cut in cuts {
        assert_cut_whole_or_absent(http, base, &cut).await;
        match cut {
            Cut::Blob { blob, progress } => {
                if let Some(session) = &progress.session {
                    resumed += usize::from(resume_session(http, base, &blob, session).await);
                }
                push_blob(http, &traffic, &blob, Method::Monolithic, &mut Progress::default())
                    .await
                    .unwrap();
                ledger.blobs.push(blob);
            }
            Cut::Manifest(manifest) => {
                put_manifest(http, base, &manifest).await.unwrap();
                ledger.manifests.push(manifest);
            }
        }
    }
    resumed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_pushes_survive_sigkill_and_nothing_partial_appears() {
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &[]);
    let http = http_client();
    let mut ledger = Ledger::default();
    let (mut cut_blobs, mut resumed) = (0, 0);
    for (round, &kill) in KILLS.iter().enumerate() {
        let started = Instant::now();
        let told = traffic_until_kill(&mut wharf, round as u64, kill).await;
        let traffic_time = started.elapsed();
        wharf = WharfProcess::start_on(wharf.port, dir.path(), &[]);
        let base = wharf.url();
        ledger.blobs.extend(told.blobs);
        ledger.manifests.extend(told.manifests);
        assert_acknowledged_intact(&http, &base, &ledger).await;
        let files = assert_stored_blobs_match_names(&wharf.data_dir);
        cut_blobs += told.cuts.iter().filter(|c| matches!(c, Cut::Blob { .. })).count();
        let cuts = told.cuts.len();
        resumed += complete_cuts(&http, &base, told.cuts, &mut ledger).await;
        assert_acknowledged_intact(&http, &base, &ledger).await;
        eprintln!(
            "crash round {round}: killed {:?} after {} acks, {traffic_time:.1?} of traffic; {cuts} pushes \
             interrupted; {files} blob files verified; {} blobs and {} manifests verified; round took {:.1?}",
            kill.1,
            kill.0,
            ledger.blobs.len(),
            ledger.manifests.len(),
            started.elapsed()
        );
    }
    assert!(
        cut_blobs > 0,
        "no kill interrupted a blob push; the test did not test anything"
    );
    eprintln!("crash: {cut_blobs} interrupted blob pushes, {resumed} of their sessions resumed");
    assert!(
        wharf.terminate().success(),
        "wharf exits cleanly after the crash rounds"
    );
}

/// Pushes `blob` from two clients at once, by two methods; both must get 201.
async fn push_twice_at_once(http: &Client, traffic: &Arc<Traffic>, blob: &Blob, other: Method) {
    let (mut first, mut second) = (Progress::default(), Progress::default());
    let (a, b) = tokio::join!(
        push_blob(http, traffic, blob, Method::Monolithic, &mut first),
        push_blob(http, traffic, blob, other, &mut second),
    );
    a.unwrap();
    b.unwrap();
}

/// The bytes tag `tag` of `repo` resolves to, read twice to see they hold still.
async fn tagged_bytes(http: &Client, base: &str, repo: &str, tag: &str) -> Bytes {
    let url = format!("{base}/v2/{repo}/manifests/{tag}");
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK, "tag {repo}:{tag}");
    let first = first.bytes().await.unwrap();
    let second = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(first, second, "tag {repo}:{tag} changes while nobody pushes");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_blob_and_one_tag_pushed_by_two_clients_at_once_agree_after_restart() {
    const ROUNDS: u64 = 6;
    let repo = "crash/same";
    let dir = tempfile::tempdir().unwrap();
    let mut wharf = WharfProcess::start(dir.path(), &[]);
    let http = http_client();
    let traffic = Traffic::new(wharf.url());
    let mut blobs = Vec::new();
    let mut winners = Vec::new();
    let mut stored = std::collections::HashSet::new();
    for round in 0..ROUNDS {
        let blob = Blob::generate(repo, 7_000 + round, (3 << 20) + round);
        let other = if round % 2 == 0 {
            Method::Chunked
        } else {
            Method::SinglePost
        };
        push_twice_at_once(&http, &traffic, &blob, other).await;
        // Each manifest also moves `latest`; both tags of a push must move together.
        let tag = format!("same-{round}");
        let notes = if round % 2 == 0 { ["a", "b"] } else { ["same", "same"] };
        let [a, b] = notes.map(|note| Manifest::new(repo, &tag, &blob, &[&blob], note));
        let push = |m: &Manifest| {
            http.put(format!("{}?tag=latest", m.url(&traffic.base, &m.tag)))
                .header(CONTENT_TYPE, OCI_MANIFEST)
                .body(m.bytes.clone())
                .send()
        };
        let (ra, rb) = tokio::join!(push(&a), push(&b));
        expect_created(ra.unwrap(), &a.digest, "first concurrent manifest push").await;
        expect_created(rb.unwrap(), &b.digest, "second concurrent manifest push").await;
        let winner = tagged_bytes(&http, &traffic.base, repo, &tag).await;
        assert!(
            winner == a.bytes || winner == b.bytes,
            "tag {tag} resolves to neither pushed manifest"
        );
        assert_eq!(
            tagged_bytes(&http, &traffic.base, repo, "latest").await,
            winner,
            "latest and {tag} disagree"
        );
        stored.extend([blob.digest.clone(), a.digest, b.digest]);
        blobs.push(blob);
        winners.push(winner);
    }
    wharf.kill();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let base = wharf.url();
    for blob in &blobs {
        assert_eq!(
            fetch_hashed(&http, &blob.url(&base)).await.unwrap(),
            blob.expected_fetch(),
            "blob after restart"
        );
    }
    for (round, winner) in winners.iter().enumerate() {
        assert_eq!(
            &tagged_bytes(&http, &base, repo, &format!("same-{round}")).await,
            winner,
            "same-{round}"
        );
    }
    assert_eq!(
        &tagged_bytes(&http, &base, repo, "latest").await,
        winners.last().unwrap(),
        "latest after restart"
    );
    let tags: serde_json::Value = http
        .get(format!("{base}/v2/{repo}/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut expected: Vec<String> = (0..ROUNDS).map(|r| format!("same-{r}")).collect();
    expected.push("latest".to_string());
    expected.sort();
    assert_eq!(tags["tags"], serde_json::json!(expected), "tags after restart");
    assert_eq!(
        assert_stored_blobs_match_names(&wharf.data_dir),
        stored.len(),
        "one stored blob per blob and manifest"
    );
}
