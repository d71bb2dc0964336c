//! The maintenance commands (`wharf du`, `scrub`, `retention`, `gc`) open the stores the
//! server's config file (or the same flags) names: here blobs in an S3 bucket
//! (SeaweedFS) and metadata in PostgreSQL, nothing in the data directory, which they
//! then need not be given.

use crate::cli_harness::Cli;
use crate::harness::{content, WharfProcess};
use wharf_testkit::{Postgres, SeaweedFs};

#[test]
fn du_and_scrub_read_the_configured_s3_bucket_and_postgres_database() {
    let s3 = SeaweedFs::shared();
    let prefix = s3.fresh_prefix();
    let url = Postgres::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            r#"total_quota = "1GiB"

[storage]
kind = "s3"
[storage.s3]
endpoint = "{endpoint}"
bucket = "{bucket}"
prefix = "{prefix}"

[metadata]
kind = "postgres"
[metadata.postgres]
url = "{url}"

[[quotas]]
repositories = "pg/**"
limit = "100MiB"

[[retention]]
repositories = "pg/**"
not_pulled_for = "30d"
"#,
            endpoint = s3.endpoint(),
            bucket = s3.bucket(),
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let wharf = WharfProcess::start_with_env(&data, &["--config", config_arg], &s3.credentials_env());
    let mut cli = Cli::new();
    for (key, value) in s3.credentials_env() {
        cli = cli.with_env(key, value);
    }
    let layer = content(3, 0..200_000);
    let file = cli.file("in/layer.bin", &layer);
    cli.json(&["push", &format!("{}/pg/app:v1", wharf.host()), &file]);
    let data_arg = data.to_str().unwrap();

    let du = cli.json(&["du", "--data-dir", data_arg, "--config", config_arg]);
    let repos = du["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 1, "{du}");
    assert_eq!(repos[0]["repository"], "pg/app");
    assert_eq!(repos[0]["limit"], 100 << 20);
    assert!(repos[0]["bytes"].as_u64().unwrap() > 200_000, "{du}");
    assert_eq!(du["total_limit"], 1u64 << 30);
    assert_eq!(du["linked_bytes"], repos[0]["bytes"], "{du}");

    // The same stores named by flags rather than the file.
    let scrub = cli.json(&[
        "scrub",
        "--data-dir",
        data_arg,
        "--storage",
        "s3",
        "--s3-endpoint",
        &s3.endpoint(),
        "--s3-bucket",
        s3.bucket(),
        "--s3-prefix",
        &prefix,
        "--metadata",
        "postgres",
        "--postgres-url",
        &url,
    ]);
    assert!(
        scrub["blobs"].as_u64().unwrap() >= 2,
        "layer, config (and manifest): {scrub}"
    );
    assert!(scrub["bytes"].as_u64().unwrap() > 200_000, "{scrub}");
    assert_eq!(scrub["damaged"].as_array().unwrap().len(), 0);

    // The config file alone: no data directory is needed, none is made.
    let bare = |command: &'static str| vec![command, "--config", config_arg];
    let du = cli.json(&bare("du"));
    assert_eq!(du["repositories"][0]["repository"], "pg/app", "{du}");
    let scrub = cli.json(&bare("scrub"));
    assert_eq!(scrub["damaged"].as_array().unwrap().len(), 0, "{scrub}");
    let retention = cli.json(&[bare("retention"), vec!["--dry-run"]].concat());
    assert_eq!(
        retention["untagged"].as_array().unwrap().len(),
        0,
        "pushed just now: {retention}"
    );
    assert_eq!(retention["tags_kept"], 1, "{retention}");
    let gc = cli.json(&[bare("gc"), vec!["--grace", "0s"]].concat());
    assert_eq!(gc["blobs"]["count"], 0, "everything is tagged: {gc}");
    assert!(!data.join("metadata.sqlite").exists());

    // A config file with SQLite metadata, and no --data-dir: the command says what it needs.
    let sqlite = cli.file(
        "sqlite.toml",
        format!(
            "[storage]\nkind = \"s3\"\n[storage.s3]\nendpoint = \"{}\"\nbucket = \"{}\"\nprefix = \"{prefix}\"\n",
            s3.endpoint(),
            s3.bucket()
        )
        .as_bytes(),
    );
    let out = cli.fails(&["du", "--config", &sqlite], 2);
    assert!(out.contains("--data-dir"), "{out}");

    // Without them, the command looks for the embedded store and says what it lacks.
    let plain = cli.file("plain.toml", b"");
    let out = cli.fails(&["du", "--data-dir", data_arg, "--config", &plain], 2);
    assert!(out.contains("has no metadata.sqlite"), "{out}");
    drop(wharf);
}
