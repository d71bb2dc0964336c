//! Pull-through caching (`[[upstreams]]`): CNCF Distribution processes are the
//! upstreams, reached through the test kit's fault proxy, which counts the requests
//! wharf sends them and breaks some on purpose. Loopback only.

use crate::harness::{
    assert_stored_blobs_match_names, expect_refusal, expect_success, http_client, skopeo_output, WharfProcess,
};
use crate::interop_podman::{seed, Podman};
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};
use wharf_testkit::{Distribution, Fault, FaultProxy, FaultRule};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,\
                      application/vnd.docker.distribution.manifest.v2+json,\
                      application/vnd.docker.distribution.manifest.list.v2+json";

pub(crate) fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `len` bytes that differ with `seed`, cheaply.
pub(crate) fn generated(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a config with one upstream (`prefix` → `url`, plus `extra` TOML lines) and
/// starts wharf with it, logging to `data/../wharf.log`.
pub(crate) fn start_wharf(dir: &Path, prefix: &str, url: &str, extra: &str) -> WharfProcess {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("wharf.toml");
    std::fs::write(
        &config,
        format!("[[upstreams]]\nprefix = \"{prefix}\"\nurls = [\"{url}\"]\n{extra}\n"),
    )
    .unwrap();
    WharfProcess::start_logging_to(
        &dir.join("data"),
        &["--config", config.to_str().unwrap(), "--durability", "relaxed"],
        &dir.join("wharf.log"),
    )
}

/// A client that sends `user:password` with every request (an upstream behind
/// htpasswd), or nothing.
pub(crate) fn client_for(base: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(userinfo) = base
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('@'))
        .map(|(u, _)| u)
    {
        use base64::Engine;
        let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(userinfo));
        headers.insert(reqwest::header::AUTHORIZATION, value.parse().unwrap());
    }
    wharf_testkit::http_client_builder()
        .no_proxy()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// `base` without its `user:password@`.
pub(crate) fn without_userinfo(base: &str) -> String {
    match base.strip_prefix("http://").and_then(|rest| rest.split_once('@')) {
        Some((_, host)) => format!("http://{host}"),
        None => base.to_string(),
    }
}

/// Pushes a blob to a registry: POST, then PUT with the whole body.
pub(crate) async fn push_blob(base: &str, repo: &str, bytes: Vec<u8>) -> String {
    let digest = sha256(&bytes);
    let http = client_for(base);
    let url = without_userinfo(base);
    let response = http
        .post(format!("{url}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "upload start in {url}/{repo}");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{url}{location}")
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let response = http
        .put(format!("{location}{separator}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "push of blob {digest} to {url}/{repo}");
    digest
}

/// Pushes an image of one layer of `layer_len` bytes as `repo:tag`; returns the
/// manifest's and the layer's digests.
pub(crate) async fn push_image(base: &str, repo: &str, tag: &str, seed: u64, layer_len: usize) -> (String, String) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
    let config_len = config.len();
    let config_digest = push_blob(base, repo, config).await;
    let layer_digest = push_blob(base, repo, generated(seed, layer_len)).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_len}],
    });
    let digest = put_manifest(base, repo, tag, MANIFEST, serde_json::to_vec(&manifest).unwrap()).await;
    (digest, layer_digest)
}

/// Pushes `bytes` as a manifest of `media_type` under `reference`; returns its digest.
pub(crate) async fn put_manifest(base: &str, repo: &str, reference: &str, media_type: &str, bytes: Vec<u8>) -> String {
    let digest = sha256(&bytes);
    let response = client_for(base)
        .put(format!("{}/v2/{repo}/manifests/{reference}", without_userinfo(base)))
        .header("content-type", media_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "push of {repo}:{reference}");
    digest
}

/// The digest of the manifest `base` serves for `repo:reference`, or its status.
pub(crate) async fn manifest_digest(base: &str, repo: &str, reference: &str) -> Result<String, (u16, String)> {
    let response = http_client()
        .get(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("accept", ACCEPT)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    if status == 200 {
        Ok(sha256(&body))
    } else {
        Err((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// GETs a blob: its status and, if the body arrived whole, its digest; `None` for a
/// body that broke off.
pub(crate) async fn get_blob(base: &str, repo: &str, digest: &str) -> (u16, Option<String>) {
    let response = http_client()
        .get(format!("{base}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let mut hasher = Sha256::new();
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        match piece {
            Ok(piece) => hasher.update(&piece),
            Err(_) => return (status, None),
        }
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (status, Some(format!("sha256:{hex}")))
}

/// The JSON document `url` answers (a tag list, a referrers index).
pub(crate) async fn get_json(url: &str) -> serde_json::Value {
    http_client().get(url).send().await.unwrap().json().await.unwrap()
}

/// Blob GETs the proxy forwarded for `digest`.
pub(crate) fn blob_gets(proxy: &FaultProxy, digest: &str) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.path_and_query.contains(&format!("/blobs/{digest}")))
        .count()
}

pub(crate) fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("wharf.log")).unwrap_or_default()
}

/// podman and skopeo pull through wharf; with the upstream stopped, the cached tag
/// still pulls and an uncached one fails saying why; pushes into the prefix are denied.
#[test]
fn podman_and_skopeo_pull_through_and_the_cache_outlives_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    seed(dir.path(), &format!("{}/team/app:1", upstream.host()), &[]);
    seed(dir.path(), &format!("{}/team/other:1", upstream.host()), &[]);
    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "tag_ttl = \"1s\"");

    let podman = Podman::new(dir.path());
    let through = format!("{}/up/team/app:1", wharf.host());
    podman.pull(&through);
    let copied = dir.path().join("copied");
    let args = [
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{through}"),
        &format!("oci:{}:1", copied.display()),
    ];
    expect_success("skopeo", &args, skopeo_output(&args));

    // A push into the prefix is refused with DENIED.
    let push = [
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", copied.display()),
        &format!("docker://{}/up/team/app:pushed", wharf.host()),
    ];
    let refusal = expect_refusal("skopeo", &push, skopeo_output(&push));
    assert!(refusal.contains("denied"), "{refusal}");

    drop(proxy);
    drop(upstream);
    std::thread::sleep(Duration::from_millis(1100)); // past the tag's TTL
    podman.forget_images();
    podman.pull(&through);
    assert!(
        log_of(dir.path()).contains("serving a cached tag without checking it"),
        "the log says the tag was served unchecked"
    );
    let out = podman.output(&[
        "pull",
        "--tls-verify=false",
        &format!("{}/up/team/other:1", wharf.host()),
    ]);
    let refusal = expect_refusal("podman", &["pull", "up/team/other:1"], out);
    assert!(refusal.contains("503"), "{refusal}");
    // podman does not print a 503's message; this is what it says.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, message) = runtime
        .block_on(manifest_digest(&wharf.url(), "up/team/other", "1"))
        .unwrap_err();
    assert_eq!(status, 503);
    assert!(
        message.contains("is not cached and the upstream") && message.contains("unavailable"),
        "{message}"
    );
}

/// 20 concurrent first pulls of one uncached blob (10 at once, 10 more once the first
/// bytes arrived) all receive it whole, and the upstream is asked for it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_pulls_of_a_blob_fetch_it_upstream_once() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    let layer = generated(7, 32 << 20);
    let digest = push_blob(&upstream.url(), "big/layer", layer).await;
    // The upstream answers late, so that the first ten are all waiting for it.
    proxy.add(FaultRule::new(format!("/blobs/{digest}"), Fault::Delay { millis: 500 }).times(1));
    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "");
    let base = wharf.url();

    let pull =
        |base: String, digest: String| tokio::spawn(async move { get_blob(&base, "up/big/layer", &digest).await });
    let first: Vec<_> = (0..10).map(|_| pull(base.clone(), digest.clone())).collect();
    // Joining while the fetch runs: wait until the blob's first bytes are streaming.
    let started = Instant::now();
    while blob_gets(&proxy, &digest) == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second: Vec<_> = (0..10).map(|_| pull(base.clone(), digest.clone())).collect();
    for handle in first.into_iter().chain(second) {
        let (status, got) = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((status, got.as_deref()), (200, Some(digest.as_str())));
    }
    assert_eq!(blob_gets(&proxy, &digest), 1, "blob GETs upstream");
    // Cached now: served by wharf alone.
    assert_eq!(
        get_blob(&base, "up/big/layer", &digest).await,
        (200, Some(digest.clone()))
    );
    assert_eq!(blob_gets(&proxy, &digest), 1);
}

/// A tag moved upstream is served as cached until its TTL has passed, then the new
/// one; the check is a HEAD, and the manifest is fetched again only when it moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_moved_upstream_is_seen_after_its_ttl_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    let (first, _) = push_image(&upstream.url(), "team/app", "latest", 1, 1000).await;
    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "tag_ttl = \"3s\"");
    let base = wharf.url();

    assert_eq!(manifest_digest(&base, "up/team/app", "latest").await, Ok(first.clone()));
    let (second, _) = push_image(&upstream.url(), "team/app", "latest", 2, 1000).await;
    assert_ne!(first, second);
    assert_eq!(
        manifest_digest(&base, "up/team/app", "latest").await,
        Ok(first.clone()),
        "within the TTL"
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        manifest_digest(&base, "up/team/app", "latest").await,
        Ok(second.clone()),
        "after the TTL"
    );
    // The old manifest stays cached by digest; the tag list comes from the upstream.
    assert_eq!(manifest_digest(&base, "up/team/app", &first).await, Ok(first.clone()));
    let heads = proxy
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "HEAD" && r.path_and_query.ends_with("/manifests/latest"))
        .count();
    assert_eq!(heads, 1, "one HEAD revalidated the tag");
    let tags = get_json(&format!("{base}/v2/up/team/app/tags/list")).await;
    assert_eq!(tags["tags"], serde_json::json!(["latest"]));

    // containerd's mirror mode: the same repository through ?ns=.
    assert_eq!(
        manifest_digest(&base, "team/app", &format!("{second}?ns=up")).await,
        Ok(second)
    );
}

/// Bytes corrupted on the way from the upstream are caught: the client's download
/// breaks off, nothing is cached, and the next pull fetches and serves it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_bytes_from_the_upstream_are_caught_and_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    let digest = push_blob(&upstream.url(), "team/app", generated(3, 3 << 20)).await;
    proxy.add(FaultRule::new(format!("/blobs/{digest}"), Fault::CorruptResponse).times(1));
    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "");

    // The digest is judged as soon as the bytes are hashed, which may be before the
    // response's head went out: the connection is then cut before the head.
    let sent = http_client()
        .get(format!("{}/v2/up/team/app/blobs/{digest}", wharf.url()))
        .send()
        .await;
    if let Ok(response) = sent {
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.is_err(), "the corrupt download breaks off");
    }
    assert_eq!(
        get_blob(&wharf.url(), "up/team/app", &digest).await,
        (200, Some(digest.clone()))
    );
    assert_eq!(blob_gets(&proxy, &digest), 2, "the corrupt bytes were not cached");
    assert!(log_of(dir.path()).contains("pull-through of a blob failed"));
    assert_stored_blobs_match_names(&dir.path().join("data"));
}

/// A wharf killed (SIGKILL) while it pulls a blob through leaves nothing half-cached;
/// started again, it pulls the blob whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_first_pull_leaves_nothing_half_cached() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    let digest = push_blob(&upstream.url(), "team/app", generated(5, 48 << 20)).await;
    let mut wharf = start_wharf(dir.path(), "up", &proxy.url(), "");

    let response = http_client()
        .get(format!("{}/v2/up/team/app/blobs/{digest}", wharf.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("the first bytes arrive").unwrap();
    assert!(!first.is_empty());
    wharf.kill();
    drop(body);
    assert_stored_blobs_match_names(&dir.path().join("data"));

    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "");
    assert_eq!(
        get_blob(&wharf.url(), "up/team/app", &digest).await,
        (200, Some(digest.clone()))
    );
    assert_stored_blobs_match_names(&dir.path().join("data"));
}

/// An upstream behind htpasswd is reached with the configured credentials; without
/// them the pull fails saying the upstream refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_with_basic_auth_is_reached_with_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start_with_basic_auth("mirror", "s3cret");
    let base = format!("http://mirror:s3cret@{}", upstream.host());
    let (manifest, layer) = push_image(&base, "team/app", "1", 9, 100_000).await;

    let wharf = start_wharf(
        &dir.path().join("with"),
        "private",
        &upstream.url(),
        "username = \"mirror\"\npassword = \"s3cret\"",
    );
    assert_eq!(
        manifest_digest(&wharf.url(), "private/team/app", "1").await,
        Ok(manifest)
    );
    assert_eq!(
        get_blob(&wharf.url(), "private/team/app", &layer).await,
        (200, Some(layer.clone()))
    );

    let without = start_wharf(&dir.path().join("without"), "private", &upstream.url(), "");
    let (status, message) = manifest_digest(&without.url(), "private/team/app", "1")
        .await
        .unwrap_err();
    assert_eq!(status, 502, "{message}");
    assert!(message.contains("refused"), "{message}");
}

/// The measurement for BENCHMARKS.md (not part of the suite: `cargo test --profile ci
/// --test e2e -- --ignored pull_through_timing`): a blob of `WHARF_PT_MIB` MiB (1024)
/// pulled directly from the upstream, then through wharf twice (first: a miss streamed
/// through; second: from wharf's cache), and 20 concurrent first pulls of another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn pull_through_timing() {
    use crate::harness::{content_digest, content_stream};
    let mib: u64 = std::env::var("WHARF_PT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let len = mib << 20;
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let mut digests = Vec::new();
    for seed in [11, 12] {
        let digest = content_digest(seed, len);
        let http = http_client();
        let response = http
            .post(format!("{}/v2/big/blob/blobs/uploads/", upstream.url()))
            .send()
            .await
            .unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", upstream.url())
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let response = http
            .put(format!("{location}{separator}digest={digest}"))
            .header("content-length", len.to_string())
            .body(reqwest::Body::wrap_stream(content_stream(seed, len, 1 << 20)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        digests.push(digest);
    }
    let wharf = start_wharf(dir.path(), "up", &upstream.url(), "");
    let timed = |base: String, repo: &'static str, digest: String| async move {
        let started = Instant::now();
        let got = get_blob(&base, repo, &digest).await;
        assert_eq!(got, (200, Some(digest.clone())));
        started.elapsed()
    };
    let direct = timed(upstream.url(), "big/blob", digests[0].clone()).await;
    let first = timed(wharf.url(), "up/big/blob", digests[0].clone()).await;
    let second = timed(wharf.url(), "up/big/blob", digests[0].clone()).await;
    let direct_again = timed(upstream.url(), "big/blob", digests[0].clone()).await;
    let started = Instant::now();
    let many: Vec<_> = (0..20)
        .map(|_| tokio::spawn(timed(wharf.url(), "up/big/blob", digests[1].clone())))
        .collect();
    for handle in many {
        handle.await.unwrap();
    }
    let concurrent = started.elapsed();
    eprintln!(
        "pull-through timing, {mib} MiB: direct {direct:.2?} (again {direct_again:.2?}), through wharf first {first:.2?}, \
         second {second:.2?}; 20 concurrent first pulls of another {mib} MiB blob: {concurrent:.2?}"
    );
}
