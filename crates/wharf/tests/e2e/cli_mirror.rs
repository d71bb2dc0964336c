//! `wharf pull --mirror HOST`: mirrors are tried first, in order, for the same
//! repository path; one that is down or lacks the image is passed over and the origin
//! serves the pull.

use crate::cli_harness::{Cli, Registry};
use crate::harness::free_port;

#[test]
fn pulls_prefer_a_mirror_and_fall_back_to_the_origin() {
    let origin = Registry::wharf();
    let mirror = Registry::distribution();
    let cli = Cli::new();
    let file = cli.file("f.txt", b"mirrored\n");
    let image = origin.at("team/app:1");
    cli.ok(&["push", &image, &file]);
    let down = format!("127.0.0.1:{}", free_port());
    let pull = |out: &str, mirrors: &[&str]| {
        let out = cli.path(out);
        let mut args = vec!["pull", image.as_str(), "-o", out.to_str().unwrap()];
        for m in mirrors {
            args.extend(["--mirror", m]);
        }
        let answer = cli.json(&args);
        assert_eq!(std::fs::read(out.join("f.txt")).unwrap(), b"mirrored\n");
        answer["source"].as_str().unwrap().to_string()
    };

    // The mirror is down, then lacks the image: the origin serves.
    let mirror_host = mirror.host();
    assert_eq!(pull("a", &[&down, &mirror_host]), origin.host());

    // Once the mirror holds it, the mirror serves (the origin is not asked).
    cli.ok(&["copy", &image, &mirror.at("team/app:1")]);
    assert_eq!(pull("b", &[&down, &mirror_host]), mirror_host);
    let comma = format!("{down},{mirror_host}");
    let env_cli = Cli::new().with_env("WHARF_MIRRORS", &comma);
    let out = env_cli.path("c");
    let answer = env_cli.json(&["pull", &image, "-o", out.to_str().unwrap()]);
    assert_eq!(answer["source"], mirror_host.as_str());

    // A mirror named wrong is a usage error.
    cli.fails(&["pull", &image, "--mirror", "not a host"], 2);
}

/// The manifest comes from the mirror, but a blob the mirror lacks (404), and one whose
/// download it breaks off midway every time, come from the origin; each file says
/// where it came from.
#[test]
fn a_blob_the_mirror_lacks_or_breaks_off_comes_from_the_origin() {
    use wharf_testkit::{Fault, FaultProxy, FaultRule};
    let origin = Registry::wharf();
    let upstream = wharf_testkit::Distribution::start();
    let mirror = FaultProxy::start(&upstream.url());
    let cli = Cli::new();
    let lacking = cli.file("lacking.bin", &vec![7u8; 300_000]);
    let broken = cli.file("broken.bin", &vec![9u8; 2_000_000]);
    let image = origin.at("team/app:1");
    cli.ok(&["push", &image, &lacking, &broken]);
    cli.ok(&["copy", &image, &format!("{}/team/app:1", upstream.host())]);
    let digest_of = |path: &str| crate::cli_harness::digest_of(std::path::Path::new(path));
    let (lacking_digest, broken_digest) = (digest_of(&lacking), digest_of(&broken));
    let deleted = crate::harness::http_client();
    let status = crate::cli_harness::runtime().block_on(async {
        deleted
            .delete(format!("{}/v2/team/app/blobs/{lacking_digest}", upstream.url()))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 202, "the mirror's copy of the blob is deleted");
    mirror.add(
        FaultRule::new(
            format!("/blobs/{broken_digest}"),
            Fault::DropResponseAfter { bytes: 100_000 },
        )
        .method(reqwest::Method::GET)
        .times(u32::MAX),
    );

    let out = cli.path("out");
    let answer = cli.json(&["pull", &image, "-o", out.to_str().unwrap(), "--mirror", &mirror.host()]);
    assert_eq!(answer["source"], mirror.host().as_str(), "{answer}");
    for (name, bytes) in [
        ("lacking.bin", vec![7u8; 300_000]),
        ("broken.bin", vec![9u8; 2_000_000]),
    ] {
        assert_eq!(std::fs::read(out.join(name)).unwrap(), bytes, "{name}");
        let file = answer["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["title"] == name)
            .unwrap();
        assert_eq!(file["source"], origin.host().as_str(), "{name}: {answer}");
    }
    let mirror_gets = mirror
        .requests()
        .iter()
        .filter(|r| r.method == reqwest::Method::GET && r.path_and_query.contains(&broken_digest))
        .count();
    assert!(mirror_gets >= 1, "the mirror was asked for the broken blob first");
}

/// Without `--mirror`, containers' registries.conf names the mirror, with a path that
/// replaces the matched prefix: the image is pulled from there.
#[test]
fn mirrors_come_from_registries_conf() {
    let origin = Registry::wharf();
    let mirror = Registry::distribution();
    let file_cli = Cli::new();
    let file = file_cli.file("f.txt", b"configured\n");
    let image = origin.at("team/app:1");
    file_cli.ok(&["push", &image, &file]);
    file_cli.ok(&["copy", &image, &mirror.at("mirrored/team/app:1")]);
    let conf = file_cli.file(
        "registries.conf",
        format!(
            "unqualified-search-registries = [\"docker.io\"]\n\n[[registry]]\nprefix = \"{}\"\nlocation = \"{}\"\n\n\
             [[registry.mirror]]\nlocation = \"{}/mirrored/team\"\n",
            origin.at("team"),
            origin.at("team"),
            mirror.host()
        )
        .as_bytes(),
    );
    let cli = Cli::new().with_env("CONTAINERS_REGISTRIES_CONF", &conf);
    let out = cli.path("out");
    let answer = cli.json(&["pull", &image, "-o", out.to_str().unwrap()]);
    assert_eq!(answer["source"], mirror.host().as_str(), "{answer}");
    assert_eq!(std::fs::read(out.join("f.txt")).unwrap(), b"configured\n");

    // An image under no [[registry]] prefix is pulled from its origin.
    let other = origin.at("other/app:1");
    file_cli.ok(&["push", &other, &file]);
    let answer = cli.json(&["pull", &other, "-o", cli.path("other").to_str().unwrap()]);
    assert_eq!(answer["source"], origin.host().as_str(), "{answer}");
}
