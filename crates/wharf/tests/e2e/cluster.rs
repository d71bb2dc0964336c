//! Two `wharf serve` replicas over one S3 bucket (SeaweedFS) and one PostgreSQL
//! database, behind a round-robin balancer (wharf-testkit's `RoundRobin`: each request
//! to the next replica in turn, so a client's consecutive requests alternate replicas):
//! the production shape, with real processes. What one replica acknowledges, the other
//! serves at once; chunked pushes whose requests alternate replicas, skopeo and
//! oci-client work through the balancer; tokens one replica issues, the other accepts;
//! a replica killed mid-upload costs the client only a resume on the other. And
//! `scripts/cluster up|down`, the same shape with nginx, starts, serves and stops.

use crate::harness::{absolute, content, free_port, http_client, sha256_of, skopeo_output, with_digest, WharfProcess};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use wharf_testkit::{Postgres, RoundRobin, SeaweedFs};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCTET_STREAM: &str = "application/octet-stream";

/// Two replicas and the balancer in front of them; every process stops on drop.
struct Cluster {
    replicas: Vec<WharfProcess>,
    balancer: RoundRobin,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Two replicas sharing a fresh key prefix of the test binary's SeaweedFS, a fresh
    /// PostgreSQL database and one token key, with `extra` arguments (access control).
    fn start(extra: &[&str]) -> Cluster {
        let s3 = SeaweedFs::shared();
        let prefix = s3.fresh_prefix();
        let database = Postgres::fresh_database();
        let dir = tempfile::tempdir().unwrap();
        let ports = [free_port(), free_port()];
        let balancer = RoundRobin::start(ports.iter().map(|p| format!("127.0.0.1:{p}")).collect());
        let key = dir.path().join("token-key.pem");
        let realm = format!("{}/token", balancer.url());
        let endpoint = s3.endpoint();
        let mut args = vec![
            "--storage",
            "s3",
            "--s3-endpoint",
            &endpoint,
            "--s3-bucket",
            s3.bucket(),
            "--s3-prefix",
            &prefix,
            "--metadata",
            "postgres",
            "--postgres-url",
            &database,
            "--postgres-pool-size",
            "4",
            "--auth-token-key",
            key.to_str().unwrap(),
            "--auth-realm",
            &realm,
        ];
        args.extend_from_slice(extra);
        // One after the other: the first migrates the database and writes the key.
        let replicas = ports
            .iter()
            .enumerate()
            .map(|(n, port)| {
                let data = dir.path().join(format!("replica-{n}"));
                WharfProcess::start_on_with_env(*port, &data, &args, &s3.credentials_env())
            })
            .collect();
        let cluster = Cluster {
            replicas,
            balancer,
            _dir: dir,
        };
        cluster.wait_ready();
        cluster
    }

    /// Until both replicas answer `/readyz` (at most 30 s).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for replica in &self.replicas {
            let url = format!("{}/readyz", replica.url());
            while !curl_ok(&url) {
                assert!(Instant::now() < deadline, "replica {url} not ready within 30 s");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    fn url(&self) -> String {
        self.balancer.url()
    }

    fn host(&self) -> String {
        self.balancer.host()
    }

    /// Which replica served each request whose path contains `part`, in order.
    fn served(&self, method: &str, part: &str) -> Vec<usize> {
        self.balancer
            .routed()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .map(|r| r.backend)
            .collect()
    }
}

fn curl_ok(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "2", url])
        .status()
        .is_ok_and(|s| s.success())
}

/// Pushes `blob` into `repo` through `base` in `chunks` PATCHes and a closing PUT.
async fn push_chunked(http: &reqwest::Client, base: &str, repo: &str, blob: &[u8], chunks: usize) -> String {
    let digest = sha256_of(blob);
    let started = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let mut location = absolute(base, started.headers()[LOCATION].to_str().unwrap());
    let size = blob.len().div_ceil(chunks);
    for (i, chunk) in blob.chunks(size).enumerate() {
        let first = i * size;
        let patched = http
            .patch(&location)
            .header(CONTENT_TYPE, OCTET_STREAM)
            .header(CONTENT_RANGE, format!("{first}-{}", first + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), StatusCode::ACCEPTED, "chunk {i}");
        location = absolute(base, patched.headers()[LOCATION].to_str().unwrap());
    }
    let done = http
        .put(with_digest(&location, &digest))
        .header(CONTENT_TYPE, OCTET_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
    digest
}

async fn put_manifest(http: &reqwest::Client, base: &str, repo: &str, reference: &str, manifest: &Value) -> String {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let put = http
        .put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header(CONTENT_TYPE, OCI_MANIFEST)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "{}", put.text().await.unwrap());
    sha256_of(&bytes)
}

fn image(config: (&str, usize), layers: &[(&str, usize)], subject: Option<(&str, usize)>) -> Value {
    let descriptor = |(digest, size): (&str, usize), media_type: &str| json!({"mediaType": media_type, "digest": digest, "size": size});
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
        "layers": layers.iter().map(|l| descriptor(*l, "application/vnd.oci.image.layer.v1.tar")).collect::<Vec<_>>(),
    });
    if let Some(subject) = subject {
        manifest["subject"] = descriptor(subject, OCI_MANIFEST);
        manifest["artifactType"] = json!("application/vnd.example.sbom");
    }
    manifest
}

/// `GET url` twice in a row: through the balancer, once on each replica.
async fn get_twice(http: &reqwest::Client, url: &str) -> [(StatusCode, Vec<u8>); 2] {
    let mut answers = Vec::new();
    for _ in 0..2 {
        let got = http.get(url).send().await.unwrap();
        answers.push((got.status(), got.bytes().await.unwrap().to_vec()));
    }
    answers.try_into().unwrap()
}

/// The spec's flows through the balancer, each request on the next replica: a chunked
/// push (its PATCHes alternate replicas), pulls, tags (pushed, moved and deleted
/// through one replica, read through the other at once), referrers and the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_flows_work_with_every_request_on_the_next_replica() {
    let cluster = Cluster::start(&[]);
    let (http, base) = (http_client(), cluster.url());
    let layer = content(1, 0..(7 << 20) + 13);
    let layer_digest = push_chunked(&http, &base, "team/app", &layer, 4).await;
    let patches = cluster.served("PATCH", "/v2/team/app/blobs/uploads/");
    assert_eq!(patches.len(), 4);
    assert!(
        patches.windows(2).all(|w| w[0] != w[1]),
        "consecutive chunks went to different replicas: {patches:?}"
    );
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let config_digest = push_chunked(&http, &base, "team/app", &config, 1).await;
    for (status, bytes) in get_twice(&http, &format!("{base}/v2/team/app/blobs/{layer_digest}")).await {
        assert_eq!(status, StatusCode::OK);
        assert!(bytes == layer, "the layer reads back whole through each replica");
    }

    let one = image((&config_digest, config.len()), &[(&layer_digest, layer.len())], None);
    let one_digest = put_manifest(&http, &base, "team/app", "v1", &one).await;
    for (status, bytes) in get_twice(&http, &format!("{base}/v2/team/app/manifests/v1")).await {
        assert_eq!((status, sha256_of(&bytes)), (StatusCode::OK, one_digest.clone()));
    }
    // The tag moves through one replica; the very next request, on the other, sees it.
    let two = image((&config_digest, config.len()), &[], None);
    let two_digest = put_manifest(&http, &base, "team/app", "v1", &two).await;
    for (status, bytes) in get_twice(&http, &format!("{base}/v2/team/app/manifests/v1")).await {
        assert_eq!(
            (status, sha256_of(&bytes)),
            (StatusCode::OK, two_digest.clone()),
            "the moved tag"
        );
    }
    put_manifest(&http, &base, "team/app", "v0", &one).await;
    for (status, bytes) in get_twice(&http, &format!("{base}/v2/team/app/tags/list")).await {
        assert_eq!(status, StatusCode::OK);
        let tags: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(tags["tags"], json!(["v0", "v1"]));
    }

    // A referrer pushed through one replica is listed through both.
    let one_size = serde_json::to_vec(&one).unwrap().len();
    let sbom = image((&config_digest, config.len()), &[], Some((&one_digest, one_size)));
    let sbom_digest = put_manifest(&http, &base, "team/app", "sbom", &sbom).await;
    for (status, bytes) in get_twice(&http, &format!("{base}/v2/team/app/referrers/{one_digest}")).await {
        assert_eq!(status, StatusCode::OK);
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index["manifests"][0]["digest"], json!(sbom_digest));
    }
    for (status, bytes) in get_twice(&http, &format!("{base}/v2/_catalog")).await {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).unwrap()["repositories"],
            json!(["team/app"])
        );
    }

    // Deleted through one replica: neither serves it any more (no cache outlives it).
    let by_digest = format!("{base}/v2/team/app/manifests/{one_digest}");
    let head = http.head(&by_digest).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        http.delete(&by_digest).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    for (status, _) in get_twice(&http, &by_digest).await {
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    for (status, _) in get_twice(&http, &format!("{base}/v2/team/app/manifests/v0")).await {
        assert_eq!(status, StatusCode::NOT_FOUND, "its tag went with it");
    }
    let layer_url = format!("{base}/v2/team/app/blobs/{layer_digest}");
    assert_eq!(
        http.delete(&layer_url).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    for (status, _) in get_twice(&http, &layer_url).await {
        assert_eq!(status, StatusCode::NOT_FOUND, "the unlinked blob");
    }
}

/// oci-client pushes (chunked) and pulls an image through the balancer; skopeo copies it
/// out to an OCI layout and back in under another name, and both read the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_client_and_skopeo_push_and_pull_through_the_balancer() {
    let cluster = Cluster::start(&[]);
    wharf_testkit::install_crypto_provider();
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        connect_timeout: Some(Duration::from_secs(5)),
        read_timeout: Some(Duration::from_secs(60)),
        no_proxy: Some("127.0.0.1".into()),
        ..ClientConfig::default()
    });
    let reference = oci_client::Reference::with_tag(cluster.host(), "interop/oci-client".into(), "v1".into());
    let layers: Vec<ImageLayer> = [(21, 300 << 10), (22, 9 << 20)]
        .map(|(seed, len)| ImageLayer::oci_v1(content(seed, 0..len), None))
        .to_vec();
    let config = Config::oci_v1(
        serde_json::to_vec(
            &json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}),
        )
        .unwrap(),
        None,
    );
    bounded(client.push(&reference, &layers, config.clone(), &RegistryAuth::Anonymous, None))
        .await
        .expect("push in time")
        .expect("push");
    let pulled = bounded(client.pull(&reference, &RegistryAuth::Anonymous, vec![IMAGE_LAYER_MEDIA_TYPE]))
        .await
        .expect("pull in time")
        .expect("pull");
    let mut got: Vec<String> = pulled.layers.iter().map(ImageLayer::sha256_digest).collect();
    let mut want: Vec<String> = layers.iter().map(ImageLayer::sha256_digest).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let uploads = cluster.served("PATCH", "/v2/interop/oci-client/blobs/uploads/").len()
        + cluster.served("PUT", "/v2/interop/oci-client/blobs/uploads/").len();
    assert!(
        uploads >= 3,
        "the push went through the upload endpoints ({uploads} requests)"
    );

    let layout = tempfile::tempdir().unwrap();
    let oci = format!("oci:{}:v1", layout.path().display());
    let from = format!("docker://{}/interop/oci-client:v1", cluster.host());
    let to = format!("docker://{}/interop/skopeo:v1", cluster.host());
    skopeo(&["copy", "--src-tls-verify=false", &from, &oci]);
    skopeo(&["copy", "--dest-tls-verify=false", &oci, &to]);
    let raw_from = skopeo(&["inspect", "--raw", "--tls-verify=false", &from]);
    let raw_to = skopeo(&["inspect", "--raw", "--tls-verify=false", &to]);
    // skopeo may write the manifest anew (its own serialization): the same config and
    // layers is what must hold.
    let contents = |raw: &[u8]| {
        let manifest: Value = serde_json::from_slice(raw).unwrap();
        let layers: Vec<Value> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].clone())
            .collect();
        (manifest["config"]["digest"].clone(), layers)
    };
    assert_eq!(
        contents(&raw_from),
        contents(&raw_to),
        "the copy in has the same config and layers"
    );
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &to,
        &format!("oci:{}:v1", out.path().display()),
    ]);
    assert_eq!(
        blob_names(layout.path()),
        blob_names(out.path()),
        "the same blobs came back out"
    );
}

/// `operation`, or an error once two minutes passed.
async fn bounded<T>(operation: impl std::future::Future<Output = T>) -> Result<T, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(120), operation).await
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = skopeo_output(args);
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn blob_names(layout: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Token mode across replicas: a token one replica issues (through the balancer's
/// `/token`, the realm both announce) is accepted by the other, with the shared key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_by_one_replica_are_accepted_by_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wharf.toml");
    let hash = bcrypt::hash("ci-secret", 4).unwrap();
    std::fs::write(
        &config,
        format!(
            "[auth]\nmode = \"token\"\n[[auth.users]]\nname = \"ci\"\npassword_hash = \"{hash}\"\n\
             [[auth.rules]]\nwho = [\"user:ci\"]\nrepositories = [\"*\"]\nactions = [\"pull\", \"push\", \"delete\"]\n"
        ),
    )
    .unwrap();
    let cluster = Cluster::start(&["--config", config.to_str().unwrap()]);
    let (http, base) = (http_client(), cluster.url());
    let challenge = http.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let header = challenge.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(header.contains(&format!("realm=\"{base}/token\"")), "{header}");
    let token: Value = http
        .get(format!("{base}/token?service=wharf&scope=repository:app:pull,push"))
        .basic_auth("ci", Some("ci-secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("a token").to_string();
    // Four requests in a row: two on each replica, all with the one token.
    for _ in 0..2 {
        let ok = http
            .get(format!("{base}/v2/"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let blob = content(5, 0..100_000);
    let digest = sha256_of(&blob);
    let started = http
        .post(format!("{base}/v2/app/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = absolute(&base, started.headers()[LOCATION].to_str().unwrap());
    let done = http
        .put(with_digest(&location, &digest))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, OCTET_STREAM)
        .body(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED);
    let served = cluster.served("GET", "/v2/");
    assert!(
        served.contains(&0) && served.contains(&1),
        "both replicas answered: {served:?}"
    );
}

/// A replica SIGKILLed while a chunk streams into it: the client asks the session's
/// status (answered by the other), resumes there (once the dead replica's lease on the
/// session lapses), finishes, and pulls exactly the blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_upload_costs_only_a_resume_on_the_other() {
    let mut cluster = Cluster::start(&[]);
    let (http, base) = (http_client(), cluster.url());
    let blob = content(9, 0..(20 << 20) + 7);
    let digest = sha256_of(&blob);
    let started = http
        .post(format!("{base}/v2/crash/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = absolute(&base, started.headers()[LOCATION].to_str().unwrap());
    let first = http
        .patch(&location)
        .header(CONTENT_TYPE, OCTET_STREAM)
        .header(CONTENT_RANGE, format!("0-{}", (6 << 20) - 1))
        .body(blob[..6 << 20].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    // The rest streams slowly into the next replica, which is killed halfway.
    let rest = blob[6 << 20..].to_vec();
    let pieces: Vec<Vec<u8>> = rest.chunks(1 << 20).map(<[u8]>::to_vec).collect();
    let body = futures::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(piece)
    });
    use futures::StreamExt;
    let streaming = {
        let (http, location) = (http.clone(), location.clone());
        let len = rest.len();
        tokio::spawn(async move {
            http.patch(&location)
                .header(CONTENT_TYPE, OCTET_STREAM)
                .header(CONTENT_RANGE, format!("{}-{}", 6 << 20, (6 << 20) + len - 1))
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let victim = *cluster.served("PATCH", "/v2/crash/").last().unwrap();
    cluster.replicas[victim].kill();
    let cut = streaming.await.unwrap();
    assert!(
        cut.as_ref().map_or(true, |r| !r.status().is_success()),
        "the chunk into the killed replica was not acknowledged"
    );

    let status = http.get(&location).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    let range = status.headers()[RANGE].to_str().unwrap().to_string();
    let held: usize = range.trim_start_matches("0-").parse::<usize>().unwrap() + 1;
    assert!(held >= 6 << 20 && held <= blob.len(), "the session holds {held} bytes");
    let resumed_at = Instant::now();
    let resumed = http
        .patch(&location)
        .header(CONTENT_TYPE, OCTET_STREAM)
        .header(CONTENT_RANGE, format!("{held}-{}", blob.len() - 1))
        .body(blob[held..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resumed.status(),
        StatusCode::ACCEPTED,
        "{}",
        resumed.text().await.unwrap()
    );
    eprintln!(
        "resumed at {held} on the surviving replica after {:?}",
        resumed_at.elapsed()
    );
    let done = http
        .put(with_digest(&location, &digest))
        .header(CONTENT_TYPE, OCTET_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
    let pulled = http
        .get(format!("{base}/v2/crash/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), StatusCode::OK);
    assert_eq!(sha256_of(&pulled.bytes().await.unwrap()), digest);
}

/// `scripts/cluster up` (with this build's binary) starts SeaweedFS, PostgreSQL, two
/// replicas and nginx and prints the balancer's URL last; a push and a pull go through
/// it; `scripts/cluster down` stops it all and removes its state directory.
#[test]
fn scripts_cluster_up_serves_through_nginx_and_down_stops_it() {
    let state = tempfile::tempdir().unwrap();
    // PostgreSQL and nginx run as an unprivileged user, who must reach the directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = state.path().join("cluster");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/cluster");
    let mut up = std::process::Command::new(script);
    up.arg("up")
        .env("WHARF_CLUSTER_DIR", &dir)
        .env("WHARF_CLUSTER_BIN", env!("CARGO_BIN_EXE_wharf"));
    let out = crate::harness::run_bounded(up, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let down = || {
        let mut down = std::process::Command::new(script);
        down.arg("down").env("WHARF_CLUSTER_DIR", &dir);
        crate::harness::run_bounded(down, Duration::from_secs(60))
    };
    if !out.status.success() {
        down();
        panic!(
            "scripts/cluster up failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let url = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "the last line is the URL: {stdout:?}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = http_client();
        let blob = content(3, 0..(6 << 20) + 1);
        let digest = push_chunked(&http, &url, "through/nginx", &blob, 3).await;
        let got = http
            .get(format!("{url}/v2/through/nginx/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(sha256_of(&got.bytes().await.unwrap()), digest);
    });
    let pids: Vec<String> = std::fs::read_dir(dir.join("pids"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .map(|pid| pid.trim().to_string())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()) && !pid.is_empty())
        .collect();
    assert!(
        pids.len() >= 4,
        "pid files of SeaweedFS, two replicas and nginx: {pids:?}"
    );
    let stopped = down();
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    assert!(!dir.exists(), "down removes the state directory");
    for pid in pids {
        // Gone, or a zombie its new parent has not reaped yet.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|rest| rest.chars().next());
        assert!(
            matches!(state, None | Some('Z' | 'X')),
            "process {pid} still runs after down"
        );
    }
}
