//! `wharf serve --metadata postgres`: a push and a pull through the binary with the
//! metadata in a real PostgreSQL database, no `metadata.sqlite` written, and `wharf gc`
//! over the same database.

use crate::cli_harness::{Cli, Registry};
use crate::harness::{content, sha256_of, sha256_of_file, WharfProcess};
use wharf_testkit::Postgres;

#[test]
fn serve_with_postgres_metadata_pushes_pulls_and_collects() {
    let url = Postgres::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let process = WharfProcess::start(&data, &["--metadata", "postgres", "--postgres-url", &url]);
    let registry = Registry::Wharf { process, _dir: dir };
    let cli = Cli::new();
    let bytes = content(7, 0..150_000);
    let file = cli.file("in/layer.bin", &bytes);
    let reference = registry.at("pg/app:v1");
    cli.json(&["push", &reference, &file]);
    let out = cli.path("out");
    cli.ok(&["pull", &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(sha256_of_file(&out.join("layer.bin")), sha256_of(&bytes));
    assert!(
        !data.join("metadata.sqlite").exists(),
        "the metadata went to PostgreSQL, not to a file"
    );

    let data_arg = data.to_str().unwrap();
    let report = cli.json(&[
        "gc",
        "--data-dir",
        data_arg,
        "--metadata",
        "postgres",
        "--postgres-url",
        &url,
        "--grace",
        "0s",
    ]);
    assert_eq!(report["blobs"]["count"], 0, "everything is tagged: {report}");
    cli.ok(&["pull", &reference, "-o", cli.path("again").to_str().unwrap()]);
}
