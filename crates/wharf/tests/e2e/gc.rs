//! `wharf gc` beside a running server: two images sharing a base layer, one deleted; a
//! dry run reports, then a collection leaves exactly the other image's bytes on disk, and
//! the server (which cached what the collection removed) still serves the kept image,
//! and its web UI shows the command's last collection.

use crate::cli_harness::{Cli, Registry};
use crate::harness::{content, sha256_of, sha256_of_file};
use std::path::Path;

/// Bytes of the blob files under `data/blobs` (the small-blob pack aside: every layer
/// here is larger than what it holds).
fn blob_file_bytes(data: &Path) -> u64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                if p.is_dir() {
                    walk(&p)
                } else if p.file_name().unwrap().to_string_lossy().starts_with("small.sqlite") {
                    0
                } else {
                    std::fs::metadata(&p).unwrap().len()
                }
            })
            .sum()
    }
    walk(&data.join("blobs"))
}

/// The web UI's front page of the server at `base`.
fn ui_front_page(base: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let answer = crate::harness::http_client()
            .get(format!("{base}/ui/"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.text().await.unwrap()
    })
}

#[test]
fn a_collection_beside_the_server_leaves_exactly_the_kept_images_bytes() {
    let registry = Registry::wharf();
    let Registry::Wharf { process, .. } = &registry else {
        unreachable!()
    };
    let data = process.data_dir.clone();
    let data_arg = data.to_str().unwrap();
    let cli = Cli::new();
    let base = cli.file("in/base.bin", &content(1, 0..300_000));
    let only_a = cli.file("in/a.bin", &content(2, 0..200_000));
    let only_b = cli.file("in/b.bin", &content(3, 0..100_000));
    let (a, b) = (registry.at("gc/a:v1"), registry.at("gc/b:v1"));
    cli.json(&["push", &a, &base, &only_a]);
    cli.json(&["push", &b, &base, &only_b]);
    cli.ok(&["pull", &a, "-o", cli.path("warm").to_str().unwrap()]);
    assert_eq!(blob_file_bytes(&data), 600_000);

    cli.ok(&["delete", &b]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let dry = cli.json(&["gc", "--data-dir", data_arg, "--grace", "0s", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert!(dry["blobs"]["bytes"].as_u64().unwrap() >= 100_000, "{dry}");
    assert_eq!(blob_file_bytes(&data), 600_000, "a dry run removes nothing");

    let report = cli.json(&["gc", "--data-dir", data_arg, "--grace", "0s"]);
    // `wharf delete` removed b's manifest; its links (the base's, b's layer's, the
    // config's) go now, and the bytes of b's layer and manifest.
    assert_eq!(report["links"]["count"], 3, "{report}");
    assert_eq!(report["blobs"]["count"], 2, "{report}");
    assert_eq!(report["blobs"], dry["blobs"], "the dry run said what would go");
    assert_eq!(
        blob_file_bytes(&data),
        500_000,
        "b's own layer went, the shared base stayed"
    );
    let table = cli.ok(&["gc", "--data-dir", data_arg, "--grace", "0s"]);
    assert!(table.contains("removed"), "{table}");

    // The server's web UI shows the last of those collections, read from the metadata
    // store the command wrote it to.
    let page = ui_front_page(&process.url());
    assert!(page.contains("Last collection started"), "{page}");
    assert!(page.contains("removed 0 manifests and 0 blobs"), "{page}");

    // Within the server's cache refresh, a's content is still whole.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = cli.path("out");
    cli.ok(&["pull", &a, "-o", out.to_str().unwrap()]);
    assert_eq!(
        sha256_of_file(&out.join("base.bin")),
        sha256_of(&content(1, 0..300_000))
    );
    assert_eq!(sha256_of_file(&out.join("a.bin")), sha256_of(&content(2, 0..200_000)));
    assert_eq!(
        cli.run(&["pull", &b, "-o", out.to_str().unwrap()]).status.code(),
        Some(3)
    );
}
