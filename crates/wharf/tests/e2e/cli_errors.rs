//! How the client commands fail: usage errors (exit 2), unreachable registries (6),
//! missing files (1), layer titles that would escape the output directory (1, nothing
//! written), each as one `wharf: …` line on stderr; and what `--help` documents.

use crate::cli_harness::{runtime, Cli, Registry};
use crate::harness::free_port;
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_client::image::{artifact_manifest, TITLE_ANNOTATION};
use wharf_client::{BlobSource, BytesSource, Client, ClientConfig, Credentials, Descriptor, Repository};

#[test]
fn usage_errors_are_exit_code_2_on_one_line() {
    let cli = Cli::new();
    let file = cli.file("f.txt", b"x");
    let digest = format!("sha256:{}", "a".repeat(64));
    for args in [
        vec!["inspect", "Bad/Ref:1"],
        vec!["inspect", "127.0.0.1:5000/app:-bad"],
        vec!["pull", "127.0.0.1:5000/app@sha256:12"],
        vec!["push", "127.0.0.1:5000/app:1"],
        vec!["push", &format!("127.0.0.1:5000/app@{digest}"), &file],
        vec!["push", "127.0.0.1:5000/app:1", &file, "--annotation", "novalue"],
        vec!["push", "127.0.0.1:5000/app:1", &file, "--chunk-size", "lots"],
        vec!["tags", "127.0.0.1:5000/app:1"],
        vec!["tag", "127.0.0.1:5000/app:1", "bad tag"],
        vec!["tag", "127.0.0.1:5000/app:1", "127.0.0.1:5000/other:2"],
        vec!["delete", "127.0.0.1:5000/app"],
        vec!["delete", "--blob", "127.0.0.1:5000/app:1"],
        vec![
            "copy",
            "127.0.0.1:5000/a:1",
            "127.0.0.1:5000/b",
            "--all-platforms",
            "--platform",
            "linux/amd64",
        ],
        vec!["copy", "oci:", "127.0.0.1:5000/b"],
        vec!["pull", "127.0.0.1:5000/app:1", "--platform", "linux"],
        vec!["login", "127.0.0.1:5000/repo", "-u", "a", "-p", "b"],
        vec!["tags", "127.0.0.1:5000/app", "--no-such-flag"],
        vec!["frobnicate"],
        vec!["serve", "--json"],
    ] {
        cli.fails(&args, 2);
    }
    let line = cli.fails(&["inspect", "Bad/Ref:1"], 2);
    assert!(line.contains("invalid reference \"Bad/Ref:1\""), "{line}");
    let line = cli.fails(&["push", "127.0.0.1:5000/app:1"], 2);
    assert!(line.contains("usage: wharf push"), "{line}");
    // A URL instead of a reference: say what to write instead.
    let line = cli.fails(&["inspect", "http://127.0.0.1:5000/app:1"], 2);
    assert!(line.contains("has no scheme: write \"127.0.0.1:5000/app:1\""), "{line}");
    assert!(line.contains("--plain-http"), "{line}");
}

#[test]
fn serve_help_lists_only_what_serve_takes() {
    let cli = Cli::new();
    let help = cli.ok(&["serve", "--help"]);
    assert!(help.contains("--listen") && help.contains("--idle-timeout"), "{help}");
    for client_option in [
        "--json",
        "--plain-http",
        "--retries",
        "--chunk-size",
        "--concurrency",
        "--username",
        "--password",
        "Client options",
    ] {
        assert!(
            !help.contains(client_option),
            "serve --help lists {client_option}:\n{help}"
        );
    }
}

#[test]
fn unreachable_registries_missing_files_and_help() {
    let cli = Cli::new();
    let nobody = format!("127.0.0.1:{}", free_port());
    let line = cli.fails(&["inspect", &format!("{nobody}/app:1"), "--retries", "0"], 6);
    assert_eq!(
        line,
        format!("wharf: no registry answers at {nobody} (connection refused)")
    );
    let file = cli.file("f.txt", b"x");
    let line = cli.fails(&["push", &format!("{nobody}/app:1"), &file, "--retries", "1"], 6);
    assert_eq!(
        line,
        format!("wharf: no registry answers at {nobody} (connection refused)"),
        "named once, without the request or the digest it was for"
    );
    cli.fails(&["tags", &format!("{nobody}/app"), "--retries", "1", "--json"], 6);
    cli.fails(&["login", &nobody, "-u", "a", "-p", "b", "--retries", "0"], 6);
    let line = cli.fails(
        &[
            "push",
            &format!("{nobody}/app:1"),
            &cli.path("missing.txt").display().to_string(),
        ],
        1,
    );
    assert!(line.contains("missing.txt"), "{line}");
    cli.fails(
        &["push", &format!("{nobody}/app:1"), cli.dir.path().to_str().unwrap()],
        2,
    );

    let help = cli.ok(&["--help"]);
    for line in [
        "0  success",
        "1  failure",
        "2  usage",
        "3  not found",
        "4  authentication",
        "5  integrity",
        "6  registry unreachable",
    ] {
        assert!(help.contains(line), "--help documents {line:?}:\n{help}");
    }
    for command in [
        "push",
        "pull",
        "copy",
        "tag",
        "tags",
        "inspect",
        "referrers",
        "attach",
        "delete",
        "login",
        "logout",
    ] {
        assert!(help.contains(command), "--help lists {command}");
        let text = cli.ok(&[command, "--help"]);
        assert!(text.contains("--json"), "{command} --help shows the client options");
    }
}

#[test]
fn pull_refuses_titles_that_leave_the_directory() {
    let wharf = Registry::wharf();
    let cli = Cli::new();
    let repo = Repository::new(wharf.host(), "cli/evil".parse().unwrap());
    let titles = ["../escape.txt", "/tmp/absolute.txt", "sub/dir.txt", ".."];
    runtime().block_on(async {
        let client = Client::new(ClientConfig::default(), Credentials::new()).unwrap();
        for (i, title) in titles.iter().enumerate() {
            let bytes = format!("payload {i}").into_bytes();
            let mut layer = Descriptor::of("text/plain", &bytes);
            layer.annotations.insert(TITLE_ANNOTATION.into(), title.to_string());
            let ok = Descriptor::of("text/plain", b"harmless");
            let mut ok = ok;
            ok.annotations.insert(TITLE_ANNOTATION.into(), "harmless.txt".into());
            let manifest = artifact_manifest(None, None, vec![ok, layer], BTreeMap::new(), None);
            let blobs: Vec<Arc<dyn BlobSource>> = vec![
                Arc::new(BytesSource::new(wharf_client::document::EMPTY_JSON)),
                Arc::new(BytesSource::new(&b"harmless"[..])),
                Arc::new(BytesSource::new(bytes)),
            ];
            client
                .push_image(&repo, &manifest, blobs, &[format!("t{i}").parse().unwrap()])
                .await
                .unwrap();
        }
    });
    let out = cli.path("deep/out");
    for (i, title) in titles.iter().enumerate() {
        let line = cli.fails(
            &[
                "pull",
                &wharf.at(&format!("cli/evil:t{i}")),
                "-o",
                out.to_str().unwrap(),
            ],
            1,
        );
        assert!(line.contains("refusing the layer title"), "{title}: {line}");
    }
    assert!(!out.exists(), "nothing was written, not even the harmless file");
    assert!(!cli.path("deep/escape.txt").exists());
}
