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
