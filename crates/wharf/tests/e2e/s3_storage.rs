//! `wharf serve --storage s3` against a real S3 server (SeaweedFS): the wharf client
//! pushes (monolithic, and in chunks under S3's 5 MiB part minimum) and pulls the same
//! bytes back, also after a restart (nothing of the uploads or blobs is on local disk);
//! with `--s3-redirect true` a blob GET is a 307 to a presigned URL that serves the bytes.

use crate::cli_harness::{digest_of, Cli};
use crate::harness::{content, WharfProcess};
use wharf_testkit::SeaweedFs;

fn serve_on_s3(server: &SeaweedFs, data_dir: &std::path::Path, prefix: &str, extra: &[&str]) -> WharfProcess {
    let endpoint = server.endpoint();
    let mut args = vec![
        "--storage",
        "s3",
        "--s3-endpoint",
        &endpoint,
        "--s3-bucket",
        server.bucket(),
        "--s3-prefix",
        prefix,
    ];
    args.extend_from_slice(extra);
    WharfProcess::start_with_env(data_dir, &args, &server.credentials_env())
}

#[test]
fn push_and_pull_through_wharf_on_s3() {
    let server = SeaweedFs::shared();
    let prefix = server.fresh_prefix();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut wharf = serve_on_s3(server, &data_dir, &prefix, &[]);
    let cli = Cli::new();
    let big = cli.file("in/big.bin", &content(21, 0..13_000_001));
    let small = cli.file("in/small.txt", b"small file\n");
    let repo = format!("{}/s3/app", wharf.host());
    cli.ok(&["push", &format!("{repo}:whole"), &big, &small]);
    // Chunks of 3 MiB: each is staged in the bucket until a part is full.
    let other = cli.file("in/other.bin", &content(22, 0..11_000_000));
    cli.ok(&["push", &format!("{repo}:chunked"), &other, "--chunk-size", "3MiB"]);

    let check = |cli: &Cli, wharf: &WharfProcess, out: &str| {
        let repo = format!("{}/s3/app", wharf.host());
        let whole = cli.path(&format!("{out}/whole"));
        cli.ok(&["pull", &format!("{repo}:whole"), "-o", whole.to_str().unwrap()]);
        assert_eq!(digest_of(&whole.join("big.bin")), digest_of(std::path::Path::new(&big)));
        assert_eq!(std::fs::read(whole.join("small.txt")).unwrap(), b"small file\n");
        let chunked = cli.path(&format!("{out}/chunked"));
        cli.ok(&["pull", &format!("{repo}:chunked"), "-o", chunked.to_str().unwrap()]);
        assert_eq!(
            digest_of(&chunked.join("other.bin")),
            digest_of(std::path::Path::new(&other))
        );
    };
    check(&cli, &wharf, "out1");

    // The data directory holds only the metadata: the blobs are in the bucket.
    assert!(!data_dir.join("blobs").exists(), "no blob files on local disk");
    wharf.kill();
    let wharf = serve_on_s3(server, &data_dir, &prefix, &[]);
    check(&cli, &wharf, "out2");
}

#[test]
fn blob_gets_redirect_to_presigned_urls_when_asked() {
    let server = SeaweedFs::shared();
    let prefix = server.fresh_prefix();
    let dir = tempfile::tempdir().unwrap();
    let wharf = serve_on_s3(server, &dir.path().join("data"), &prefix, &["--s3-redirect", "true"]);
    let cli = Cli::new();
    let bytes = content(23, 0..700_000);
    let file = cli.file("in/layer.bin", &bytes);
    let repo = format!("{}/s3/redirect", wharf.host());
    cli.ok(&["push", &format!("{repo}:v1"), &file]);
    let digest = digest_of(std::path::Path::new(&file));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = wharf_testkit::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client
            .get(format!("{}/v2/s3/redirect/blobs/{digest}", wharf.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&server.endpoint()), "{location}");
        assert!(location.contains("X-Amz-Signature="), "{location}");
        let fetched = reqwest::get(&location).await.unwrap();
        assert_eq!(fetched.status(), reqwest::StatusCode::OK);
        assert!(
            fetched.bytes().await.unwrap() == bytes,
            "the presigned URL serves the blob"
        );
        // HEAD is answered by wharf itself.
        let head = client
            .head(format!("{}/v2/s3/redirect/blobs/{digest}", wharf.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), reqwest::StatusCode::OK);
    });
    // The client follows the redirect.
    let out = cli.path("out");
    cli.ok(&["pull", &format!("{repo}:v1"), "-o", out.to_str().unwrap()]);
    assert!(std::fs::read(out.join("layer.bin")).unwrap() == bytes);
}
