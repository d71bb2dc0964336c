//! The size limit of an upstream's cache (`max_size`) enforced by a manual `wharf gc`
//! with the server's config file, as each of the server's own collections enforces it:
//! the least recently pulled blobs are evicted first, then collected. CNCF
//! Distribution 2.8 is the upstream. Loopback only.

use crate::harness::{expect_success, http_client};
use crate::pull_through::{get_blob, manifest_digest, push_image, start_wharf};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use wharf_testkit::Distribution;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `wharf gc` over the test's data directory with its config file, and `extra`; it
/// must succeed.
fn wharf_gc(dir: &Path, extra: &[&str]) -> Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("gc")
        .args(["--config", dir.join("wharf.toml").to_str().unwrap()])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    expect_success("wharf gc", extra, out)
}

/// The config's and layers' (digest, size) of the image manifest `base` serves as
/// `repo:reference`.
async fn blobs_of(base: &str, repo: &str, reference: &str) -> Vec<(String, u64)> {
    let url = format!("{base}/v2/{repo}/manifests/{reference}");
    let response = http_client().get(url).header("accept", OCI_MANIFEST).send().await;
    let manifest: serde_json::Value = response.unwrap().json().await.unwrap();
    let layers = manifest["layers"].as_array().unwrap().iter();
    std::iter::once(&manifest["config"])
        .chain(layers)
        .map(|d| (d["digest"].as_str().unwrap().to_string(), d["size"].as_u64().unwrap()))
        .collect()
}

/// Three images (a config and a layer of 1000 bytes each) are pulled through a cache
/// that holds two, the first pulled again last; the server stops. `wharf gc --config`
/// (the dry run first, which evicts nothing) evicts the blobs of the image pulled least
/// recently, the second, and collects their bytes; with the upstream gone, a restarted
/// server still serves the other two images' blobs, and the second's manifest, but no
/// longer its blobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_gc_evicts_the_least_recently_pulled_blobs_of_a_cache_over_its_max_size() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let mut images = Vec::new();
    for (tag, seed) in [("1", 31), ("2", 32), ("3", 33)] {
        let (manifest, _) = push_image(&upstream.url(), "team/app", tag, seed, 1000).await;
        images.push((manifest.clone(), blobs_of(&upstream.url(), "team/app", tag).await));
    }
    let bytes = |blobs: &[(String, u64)]| blobs.iter().map(|(_, size)| size).sum::<u64>();
    let held = bytes(&images[0].1) + bytes(&images[2].1);
    let total = held + bytes(&images[1].1);
    let max_size = format!("max_size = \"{held}B\"");
    let mut wharf = start_wharf(dir.path(), "up", &upstream.url(), &max_size);
    let base = wharf.url();
    // Pull times are kept to the millisecond: the pauses keep the images' order plain.
    for (n, tag) in ["1", "2", "3", "1"].into_iter().enumerate() {
        let (manifest, blobs) = &images[tag.parse::<usize>().unwrap() - 1];
        assert_eq!(
            manifest_digest(&base, "up/team/app", tag).await.as_ref(),
            Ok(manifest),
            "pull {n}"
        );
        for (digest, _) in blobs {
            assert_eq!(
                get_blob(&base, "up/team/app", digest).await,
                (200, Some(digest.clone()))
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A graceful stop writes the pull times the server noted.
    assert!(wharf.terminate().success());
    drop(upstream);

    let evicted = &images[1].1;
    let dry = wharf_gc(dir.path(), &["--grace", "0s", "--dry-run"]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("upstream up: would evict 2 blob(s), 1.02 KiB"),
        "the dry run names the eviction:\n{text}"
    );

    let out = wharf_gc(dir.path(), &["--grace", "0s", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let evictions = report["upstream_evictions"]
        .as_array()
        .expect("evictions in the JSON report");
    assert_eq!(evictions.len(), 1, "{report}");
    assert_eq!(evictions[0]["prefix"], "up");
    assert_eq!(evictions[0]["max_size"], held);
    assert_eq!(
        evictions[0]["cached_bytes"], total,
        "the dry run evicted nothing: {report}"
    );
    let mut digests: Vec<&str> = evictions[0]["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    digests.sort();
    let mut expected: Vec<&str> = evicted.iter().map(|(d, _)| d.as_str()).collect();
    expected.sort();
    assert_eq!(digests, expected, "the second image's blobs: {report}");
    assert_eq!(evictions[0]["evicted_bytes"], bytes(evicted));
    assert_eq!(report["blobs"]["count"], 2, "the evicted bytes are collected: {report}");
    assert_eq!(report["blobs"]["bytes"], bytes(evicted));

    // The upstream is gone: what the cache holds is all a pull gets.
    let wharf = start_wharf(dir.path(), "up", "http://127.0.0.1:9", &max_size);
    let base = wharf.url();
    for (_, blobs) in [&images[0], &images[2]] {
        for (digest, _) in blobs {
            assert_eq!(
                get_blob(&base, "up/team/app", digest).await,
                (200, Some(digest.clone())),
                "a recently pulled image's blob stays cached"
            );
        }
    }
    assert_eq!(
        manifest_digest(&base, "up/team/app", &images[1].0).await.as_ref(),
        Ok(&images[1].0),
        "manifests are not evicted"
    );
    for (digest, _) in evicted {
        let (status, _) = get_blob(&base, "up/team/app", digest).await;
        assert_ne!(status, 200, "an evicted blob is no longer cached");
    }
}
