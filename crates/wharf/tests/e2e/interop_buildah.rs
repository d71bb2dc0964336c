//! buildah (Debian's) against `wharf serve` in token mode: log in, pull, commit a new
//! image on top of what it pulled, push it, pull it back into empty storage, and be
//! refused a push where the user may only pull.
//!
//! buildah runs as a plain client: its own storage (vfs driver) and auth file in the
//! test's temporary directory; nothing is run inside a container. `scripts/test`
//! installs it when missing.

use crate::auth_clients::{assert_log, start};
use crate::harness::{expect_refusal, expect_success, run_bounded};
use crate::interop_podman::seed;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// buildah with its state kept under one directory.
struct Buildah {
    root: PathBuf,
}

impl Buildah {
    fn new(dir: &Path) -> Buildah {
        let root = dir.join("buildah");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("auth.json"), "{}").unwrap();
        Buildah { root }
    }

    fn output(&self, args: &[&str]) -> Output {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(self.root.join("storage"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("REGISTRY_AUTH_FILE", self.root.join("auth.json"))
            .env("BUILDAH_ISOLATION", "chroot")
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1");
        run_bounded(command, TIMEOUT)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = expect_success("buildah", args, self.output(args));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn refused(&self, args: &[&str]) -> String {
        expect_refusal("buildah", args, self.output(args))
    }
}

#[test]
fn buildah_pushes_and_pulls_in_token_mode() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), "token");
    let host = wharf.host();
    seed(
        dir.path(),
        &format!("{host}/team-a/source:1"),
        &["--dest-creds", "alice:alice-pw"],
    );
    let buildah = Buildah::new(dir.path());
    buildah.refused(&["pull", "--tls-verify=false", &format!("{host}/team-a/source:1")]);

    buildah.run(&["login", "--tls-verify=false", "-u", "alice", "-p", "alice-pw", &host]);
    buildah.run(&["pull", "--tls-verify=false", &format!("{host}/team-a/source:1")]);
    // A new image on top of the pulled one: a label changes its config.
    let container = buildah.run(&["from", "--pull-never", &format!("{host}/team-a/source:1")]);
    buildah.run(&["config", "--label", "built-by=buildah", &container]);
    let image = buildah.run(&["commit", &container, "wharf-buildah-test"]);
    buildah.run(&[
        "push",
        "--tls-verify=false",
        &image,
        &format!("docker://{host}/team-a/buildah:1"),
    ]);
    let refused = buildah.refused(&[
        "push",
        "--tls-verify=false",
        &image,
        &format!("docker://{host}/readonly/buildah:1"),
    ]);
    assert!(
        refused.contains("denied") || refused.contains("unauthorized") || refused.contains("authentication required"),
        "{refused}"
    );

    buildah.run(&["rm", "--all"]);
    buildah.run(&["rmi", "--all", "--force"]);
    buildah.run(&["pull", "--tls-verify=false", &format!("{host}/team-a/buildah:1")]);
    let label = buildah.run(&[
        "inspect",
        "--type",
        "image",
        "--format",
        "{{index .OCIv1.Config.Labels \"built-by\"}}",
        &format!("{host}/team-a/buildah:1"),
    ]);
    assert_eq!(label, "buildah");
    buildah.run(&["logout", &host]);
    drop(wharf);
    assert_log(dir.path(), "token");
}
