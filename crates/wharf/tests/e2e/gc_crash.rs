//! A garbage collection cut off by SIGKILL: `wharf serve` collects a registry where 600
//! images are garbage (sharing a base layer with 12 tagged ones) and is killed while it
//! removes bytes; after a restart every tagged image pulls whole before and after the
//! collection is run again, which then leaves exactly the tagged images' bytes. A blob
//! whose bytes were collected is pushed again and served; skopeo copies a kept image out
//! and back in.

use crate::cli_harness::Cli;
use crate::harness::{assert_stored_blobs_match_names, content, sha256_of, skopeo_output, WharfProcess};
use futures::StreamExt;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const KEPT: usize = 12;
const GARBAGE: usize = 600;
/// Layers are files of their own (larger than the 64 KiB the pack holds).
const LAYER: u64 = 70_000;
const BASE: u64 = 200_000;
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// An image: config and layer bytes, and its manifest over them and the base.
struct Image {
    config: Vec<u8>,
    layer: Vec<u8>,
    manifest: Vec<u8>,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": sha256_of(bytes), "size": bytes.len() })
}

fn image(seed: u64, base: &[u8]) -> Image {
    let layer = content(seed, 0..LAYER);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [sha256_of(base), sha256_of(&layer)] },
    }))
    .unwrap();
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, &config),
        "layers": [descriptor(TAR, base), descriptor(TAR, &layer)],
    }))
    .unwrap();
    Image {
        config,
        layer,
        manifest,
    }
}

async fn push_blob(http: &reqwest::Client, url: &str, repo: &str, bytes: &[u8]) {
    let response = http
        .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={}", sha256_of(bytes)))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap());
}

async fn push_image(http: &reqwest::Client, url: &str, repo: &str, reference: &str, image: &Image, base: &[u8]) {
    push_blob(http, url, repo, base).await;
    push_blob(http, url, repo, &image.config).await;
    push_blob(http, url, repo, &image.layer).await;
    let response = http
        .put(format!("{url}/v2/{repo}/manifests/{reference}"))
        .header("content-type", MANIFEST)
        .body(image.manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap());
}

/// Asserts that every part of `image` is served from `repo` with exactly its bytes.
async fn assert_pulls(http: &reqwest::Client, url: &str, repo: &str, tag: &str, image: &Image, base: &[u8]) {
    let manifest = http
        .get(format!("{url}/v2/{repo}/manifests/{tag}"))
        .header("accept", MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status().as_u16(), 200, "{repo}:{tag}");
    assert!(
        manifest.bytes().await.unwrap() == image.manifest,
        "{repo}:{tag} manifest bytes"
    );
    for blob in [&image.config, &image.layer, &base.to_vec()] {
        let digest = sha256_of(blob);
        let response = http
            .get(format!("{url}/v2/{repo}/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{repo}:{tag} blob {digest}");
        assert_eq!(sha256_of(&response.bytes().await.unwrap()), digest);
    }
}

/// Blob files under `blobs/sha256` (the small-blob pack aside).
fn blob_files(data: &Path) -> usize {
    let Ok(shards) = std::fs::read_dir(data.join("blobs").join("sha256")) else {
        return 0;
    };
    shards
        .filter_map(|s| std::fs::read_dir(s.unwrap().path()).ok())
        .map(|files| files.count())
        .sum()
}

#[test]
fn a_collection_killed_midway_and_run_again_keeps_every_tagged_image_and_leaves_no_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = crate::cli_harness::runtime();
    let http = wharf_testkit::http_client_builder().build().unwrap();
    let base = content(9_999, 0..BASE);
    let kept: Vec<Image> = (0..KEPT as u64).map(|i| image(i, &base)).collect();
    let garbage: Vec<Image> = (0..GARBAGE as u64).map(|i| image(1_000 + i, &base)).collect();

    // Fill the registry: tagged images, and garbage pushed by digest only (untagged).
    let mut server = WharfProcess::start(&data, &["--gc", "false", "--durability", "relaxed"]);
    let url = server.url();
    rt.block_on(async {
        for (i, image) in kept.iter().enumerate() {
            push_image(&http, &url, "keep/app", &format!("t{i}"), image, &base).await;
        }
        futures::stream::iter(&garbage)
            .for_each_concurrent(8, |image| {
                let digest = sha256_of(&image.manifest);
                let (http, url, base) = (&http, &url, &base);
                async move { push_image(http, url, "junk/app", &digest, image, base).await }
            })
            .await;
    });
    server.kill();
    let before = blob_files(&data);
    assert_eq!(before, 1 + KEPT + GARBAGE, "the base and every layer are files");

    // Collect, and kill the server once it has removed some bytes but not all.
    std::thread::sleep(Duration::from_millis(20));
    let mut server = WharfProcess::start(&data, &["--gc-interval", "1s", "--gc-grace", "0s"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        let now = blob_files(&data);
        if now < before {
            server.kill();
            break blob_files(&data);
        }
        assert!(Instant::now() < deadline, "the server collected nothing within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        at_kill > 1 + KEPT,
        "the kill came after the collection had finished ({at_kill} files left): nothing was cut off"
    );
    eprintln!("killed with {at_kill} of {before} blob files left");

    // Restarted: every tagged image is whole, before any further collection.
    let server = WharfProcess::start(&data, &["--gc", "false"]);
    let url = server.url();
    rt.block_on(async {
        for (i, image) in kept.iter().enumerate() {
            assert_pulls(&http, &url, "keep/app", &format!("t{i}"), image, &base).await;
        }
    });

    // The collection run again (beside the server) finishes the job.
    let cli = Cli::new();
    let data_arg = data.to_str().unwrap();
    let report = cli.json(&["gc", "--data-dir", data_arg, "--grace", "0s"]);
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(
        blob_files(&data),
        1 + KEPT,
        "exactly the kept layers and the base remain"
    );
    assert_eq!(
        assert_stored_blobs_match_names(&data),
        1 + 3 * KEPT,
        "and the kept configs and manifests, each whole"
    );
    let again = cli.json(&["gc", "--data-dir", data_arg, "--grace", "0s"]);
    assert_eq!(again["blobs"]["count"], 0, "{again}");
    assert_eq!(again["stray_blobs"]["count"], 0, "{again}");

    std::thread::sleep(Duration::from_millis(500)); // the server drops its read cache
    rt.block_on(async {
        for (i, image) in kept.iter().enumerate() {
            assert_pulls(&http, &url, "keep/app", &format!("t{i}"), image, &base).await;
        }
        // Content whose bytes were collected is pushed again and served.
        let returning = &garbage[0];
        let digest = sha256_of(&returning.layer);
        let head = http
            .head(format!("{url}/v2/junk/app/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status().as_u16(), 404);
        push_image(&http, &url, "junk/app", "back", returning, &base).await;
        assert_pulls(&http, &url, "junk/app", "back", returning, &base).await;
    });

    // skopeo copies a kept image out and back in under another name, unchanged.
    let layout = dir.path().join("layout");
    let source = format!("docker://{}/keep/app:t3", server.host());
    let copied = format!("docker://{}/again/app:t3", server.host());
    let out_layout = format!("oci:{}:t3", layout.display());
    for (from, to) in [(&source, &out_layout), (&out_layout, &copied)] {
        let out = skopeo_output(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            from,
            to,
        ]);
        assert!(
            out.status.success(),
            "skopeo copy {from} {to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    rt.block_on(assert_pulls(&http, &url, "again/app", "t3", &kept[3], &base));
}
