//! Interoperability with podman (Debian's; buildah shares its code): an image pulled from
//! wharf is pushed into `wharf serve` as an OCI manifest, as a Docker schema2
//! manifest and inside a manifest list, pulled back into empty local storage, and pushed
//! and pulled again after `podman login` against wharf's token mode.
//!
//! podman runs as a plain client: its own storage (vfs driver) and auth file in the test's
//! temporary directory, no containers started. `scripts/test` installs it when missing.

use crate::auth_clients::{assert_log, start, write_layout};
use crate::harness::{expect_refusal, expect_success, run_bounded, WharfProcess};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// podman with its state kept under one directory.
pub(crate) struct Podman {
    root: PathBuf,
}

impl Podman {
    /// podman refuses an auth file that does not exist: start with an empty one.
    pub(crate) fn new(dir: &Path) -> Podman {
        let root = dir.join("podman");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("auth.json"), "{}").unwrap();
        Podman { root }
    }

    pub(crate) fn output(&self, args: &[&str]) -> Output {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.root.join("storage"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(args)
            .env("REGISTRY_AUTH_FILE", self.root.join("auth.json"))
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1");
        run_bounded(command, TIMEOUT)
    }

    fn run(&self, args: &[&str]) -> Output {
        expect_success("podman", args, self.output(args))
    }

    fn refused(&self, args: &[&str]) -> String {
        expect_refusal("podman", args, self.output(args))
    }

    /// Pulls `reference` into podman's storage; returns the image id.
    pub(crate) fn pull(&self, reference: &str) -> String {
        let out = self.run(&["pull", "--tls-verify=false", reference]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub(crate) fn forget_images(&self) {
        self.run(&["rmi", "--all", "--force"]);
    }
}

/// Copies the test layout's image into wharf as `destination` with skopeo (podman
/// itself cannot name an image read from a layout in a temporary directory).
pub(crate) fn seed(dir: &Path, destination: &str, creds: &[&str]) {
    let layout = dir.join("layout");
    write_layout(&layout);
    let mut command = Command::new("skopeo");
    command
        .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
        .args(creds)
        .arg(format!("oci:{}:1", layout.display()))
        .arg(format!("docker://{destination}"));
    let out = run_bounded(command, TIMEOUT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The manifest wharf serves for `reference`, read with a plain HTTP client.
fn served_manifest(wharf: &WharfProcess, repository: &str, reference: &str) -> Value {
    let url = format!("{}/v2/{repository}/manifests/{reference}", wharf.url());
    let accept = "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,\
                  application/vnd.docker.distribution.manifest.v2+json,\
                  application/vnd.docker.distribution.manifest.list.v2+json";
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "30", "-H", &format!("Accept: {accept}"), &url])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "GET {url} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn podman_pushes_and_pulls_oci_docker_and_manifest_lists() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(&dir.path().join("data"), &[]);
    let repo = format!("{}/interop/podman", wharf.host());
    seed(dir.path(), &format!("{repo}:source"), &[]);
    let podman = Podman::new(dir.path());
    let image = podman.pull(&format!("{repo}:source"));

    podman.run(&[
        "push",
        "--tls-verify=false",
        "--format",
        "oci",
        &image,
        &format!("docker://{repo}:oci"),
    ]);
    podman.run(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        &image,
        &format!("docker://{repo}:v2s2"),
    ]);
    let oci = served_manifest(&wharf, "interop/podman", "oci");
    assert_eq!(oci["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let docker = served_manifest(&wharf, "interop/podman", "v2s2");
    assert_eq!(
        docker["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    podman.run(&["manifest", "create", "wharf-list"]);
    podman.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "wharf-list",
        &format!("docker://{repo}:oci"),
    ]);
    podman.run(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "wharf-list",
        &format!("docker://{repo}:list"),
    ]);
    let list = served_manifest(&wharf, "interop/podman", "list");
    assert_eq!(list["manifests"].as_array().map(Vec::len), Some(1), "{list}");

    // From empty local storage, each comes back.
    podman.forget_images();
    for tag in ["oci", "v2s2", "list"] {
        assert_eq!(podman.pull(&format!("{repo}:{tag}")), image, "{tag} is the same image");
    }
}

#[test]
fn podman_logs_in_and_follows_the_token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), "token");
    let host = wharf.host();
    seed(
        dir.path(),
        &format!("{host}/team-a/source:1"),
        &["--dest-creds", "alice:alice-pw"],
    );
    let podman = Podman::new(dir.path());
    podman.refused(&["pull", "--tls-verify=false", &format!("{host}/team-a/source:1")]);

    podman.run(&["login", "--tls-verify=false", "-u", "alice", "-p", "alice-pw", &host]);
    let image = podman.pull(&format!("{host}/team-a/source:1"));
    podman.run(&[
        "push",
        "--tls-verify=false",
        &image,
        &format!("docker://{host}/team-a/podman:1"),
    ]);
    let refused = podman.refused(&[
        "push",
        "--tls-verify=false",
        &image,
        &format!("docker://{host}/readonly/podman:1"),
    ]);
    assert!(
        refused.contains("denied") || refused.contains("unauthorized") || refused.contains("authentication required"),
        "{refused}"
    );
    podman.forget_images();
    assert_eq!(podman.pull(&format!("{host}/team-a/podman:1")), image);
    podman.run(&["logout", &host]);
    let refused = podman.refused(&["pull", "--tls-verify=false", &format!("{host}/team-a/podman:1")]);
    assert!(
        refused.contains("unauthorized") || refused.contains("authentication required"),
        "{refused}"
    );

    drop(wharf);
    assert_log(dir.path(), "token");
}

#[test]
fn podman_search_lists_the_catalog_in_token_mode() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), "token");
    let host = wharf.host();
    seed(
        dir.path(),
        &format!("{host}/team-a/searched:1"),
        &["--dest-creds", "alice:alice-pw"],
    );
    seed(
        &dir.path().join("admin"),
        &format!("{host}/private/hidden:1"),
        &["--dest-creds", "admin:admin-pw"],
    );
    let podman = Podman::new(dir.path());
    podman.run(&["login", "--tls-verify=false", "-u", "alice", "-p", "alice-pw", &host]);
    // podman's first token names no scope; the catalog's insufficient_scope challenge
    // makes it ask for registry:catalog:*, and the listing is what alice may pull.
    let found = podman.run(&[
        "search",
        "--tls-verify=false",
        "--format",
        "{{.Name}}",
        &format!("{host}/"),
    ]);
    let found = String::from_utf8_lossy(&found.stdout);
    let names: Vec<&str> = found.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(names, [format!("{host}/team-a/searched")], "{found}");
    drop(wharf);
    assert_log(dir.path(), "token");
}
