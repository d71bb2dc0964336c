//! The storage lifecycle through `wharf serve --config` and the CLI: an immutable tag
//! refused to `wharf push` and to skopeo, a quota refused with usage and limit and shown
//! by `wharf du`, retention with `wharf retention --dry-run` then for real and `wharf
//! gc`, and `wharf scrub` finding a flipped byte (exit 5).

use crate::cli_harness::Cli;
use crate::harness::{content, skopeo_output, WharfProcess};
use std::path::Path;

const CONFIG: &str = r#"
[[immutable_tags]]
repositories = "prod/**"
tags = "v*"

[[quotas]]
repositories = ["small/*"]
limit = "300k"

[[retention]]
repositories = "ci/*"
keep_last = 2
keep_tags = "^main$"
"#;

/// A blob file's path under the data directory.
fn blob_file(data: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    data.join("blobs/sha256").join(&hex[..2]).join(hex)
}

#[test]
fn immutable_tags_quotas_retention_and_scrub_through_the_cli_and_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config_arg = config.to_str().unwrap();
    let server = WharfProcess::start(&data, &["--config", config_arg, "--gc", "false"]);
    let at = |path: &str| format!("{}/{path}", server.host());
    let cli = Cli::new();
    let data_arg = data.to_str().unwrap();

    // Immutable: the same content again is fine, other content is refused (403: exit 4).
    let one = cli.file("in/one.bin", &content(1, 0..100_000));
    let two = cli.file("in/two.bin", &content(2, 0..100_000));
    cli.ok(&["push", &at("prod/app:v1"), &one]);
    cli.ok(&["push", &at("prod/app:v1"), &one]);
    let refused = cli.fails(&["push", &at("prod/app:v1"), &two], 4);
    assert!(refused.contains("immutable") && refused.contains("v*"), "{refused}");
    let refused = cli.fails(&["delete", &at("prod/app:v1"), "--tag-only"], 4);
    assert!(refused.contains("immutable"), "{refused}");
    cli.ok(&["push", &at("prod/app:latest"), &two]);
    // skopeo, moving v1 to what latest names, is refused too, and v1 stays.
    let out = skopeo_output(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", at("prod/app:latest")),
        &format!("docker://{}", at("prod/app:v1")),
    ]);
    assert!(!out.status.success(), "skopeo moved an immutable tag");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("immutable"),
        "skopeo's error shows the registry's message: {stderr}"
    );
    let v1 = cli.json(&["inspect", &at("prod/app:v1")]);
    let original = cli.json(&["inspect", &at("prod/app:latest")]);
    assert_ne!(v1["digest"], original["digest"]);

    // Quota: 300 KiB for small/*; the second 200 KB layer would pass it.
    let big_a = cli.file("in/a.bin", &content(3, 0..200_000));
    let big_b = cli.file("in/b.bin", &content(4, 0..200_000));
    cli.ok(&["push", &at("small/x:1"), &big_a]);
    let refused = cli.fails(&["push", &at("small/x:2"), &big_b], 4);
    assert!(refused.contains("quota") && refused.contains("307200"), "{refused}");
    let out = skopeo_output(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", at("prod/app:latest")),
        &format!("docker://{}", at("small/y:1")),
    ]);
    assert!(
        out.status.success(),
        "100 KB fits in small/y: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let du = cli.json(&["du", "--data-dir", data_arg, "--config", config_arg]);
    let small_x = du["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == "small/x")
        .unwrap();
    assert_eq!(small_x["limit"], 300 << 10);
    assert!(small_x["bytes"].as_u64().unwrap() >= 200_000 && small_x["bytes"].as_u64().unwrap() < 300 << 10);
    let table = cli.ok(&["du", "--data-dir", data_arg, "--config", config_arg]);
    assert!(table.contains("small/x") && table.contains("300.00 KiB"), "{table}");

    // Retention: main and the 2 newest stay.
    for (i, tag) in ["main", "1", "2", "3", "4"].iter().enumerate() {
        let file = cli.file(&format!("in/ci{i}.bin"), &content(10 + i as u64, 0..1_000));
        cli.ok(&["push", &at(&format!("ci/app:{tag}")), &file]);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let dry = cli.json(&["retention", "--data-dir", data_arg, "--config", config_arg, "--dry-run"]);
    assert_eq!(dry["untagged"].as_array().unwrap().len(), 2, "{dry}");
    assert_eq!(cli.json(&["tags", &at("ci/app")])["tags"].as_array().unwrap().len(), 5);
    let done = cli.ok(&["retention", "--data-dir", data_arg, "--config", config_arg]);
    assert!(
        done.contains("untagged ci/app:1") && done.contains("untagged ci/app:2"),
        "{done}"
    );
    let tags = cli.json(&["tags", &at("ci/app")])["tags"].clone();
    assert_eq!(tags, serde_json::json!(["3", "4", "main"]));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let gc = cli.json(&["gc", "--data-dir", data_arg, "--grace", "0s"]);
    assert!(gc["manifests"]["count"].as_u64().unwrap() >= 2, "{gc}");

    // Scrub: clean, then a flipped byte in the kept v1 layer is found and set aside.
    let clean = cli.json(&["scrub", "--data-dir", data_arg]);
    assert_eq!(clean["damaged"], serde_json::json!([]), "{clean}");
    let layer = crate::harness::sha256_of(&content(1, 0..100_000));
    let path = blob_file(&data, &layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[500] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let out = cli.run(&["scrub", "--data-dir", data_arg, "--json", "--rate", "10MiB"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["damaged"][0]["digest"], layer.as_str(), "{report}");
    assert!(data.join("quarantine").exists());
    let pull = cli.run(&["pull", &at("prod/app:v1"), "-o", cli.path("out").to_str().unwrap()]);
    assert!(!pull.status.success(), "the damaged layer is not served");
    cli.ok(&["push", &at("prod/app:v1"), &one]); // same content: allowed, and repairs it
    cli.ok(&["pull", &at("prod/app:v1"), "-o", cli.path("out").to_str().unwrap()]);
}
