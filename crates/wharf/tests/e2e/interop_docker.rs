//! docker (Debian's docker.io: dockerd and its CLI) against `wharf serve` in token mode:
//! log in, pull, push (with a cross-repository mount from the repository it pulled
//! from), pull back into an empty daemon, and be refused a push where the user may only
//! pull.
//!
//! The test starts its own dockerd (vfs storage, no iptables, no bridge) with every path
//! in the test's temporary directory, talks to it over its own socket, and stops it
//! (SIGTERM, then SIGKILL) when done. `127.0.0.1` registries are plain HTTP to docker by
//! default. `scripts/test` installs docker.io when missing.

use crate::auth_clients::{assert_log, start};
use crate::harness::{expect_refusal, expect_success, run_bounded};
use crate::interop_podman::seed;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every docker command of the test completes within this.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A dockerd of the test's own, stopped when dropped.
struct Dockerd {
    child: Child,
    socket: PathBuf,
    config: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let root = dir.join("docker");
        std::fs::create_dir_all(&root).unwrap();
        let socket = root.join("docker.sock");
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--storage-driver", "vfs", "--iptables=false", "--bridge=none"])
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run dockerd ({e}); scripts/test installs docker.io"));
        let config = root.join("config");
        std::fs::create_dir_all(&config).unwrap();
        let mut dockerd = Dockerd { child, socket, config };
        dockerd.wait_ready(&root);
        dockerd
    }

    fn wait_ready(&mut self, root: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dockerd exited at start ({status}):\n{}",
                    std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default()
                );
            }
            if self.socket.exists() && self.output(&["version"]).status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "dockerd did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The docker CLI against this daemon, with its own config (credentials) directory.
    fn output(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker");
        command
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", &self.config)
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1");
        run_bounded(command, TIMEOUT)
    }

    fn run(&self, args: &[&str]) -> Output {
        expect_success("docker", args, self.output(args))
    }

    fn refused(&self, args: &[&str]) -> String {
        expect_refusal("docker", args, self.output(args))
    }
}

impl Drop for Dockerd {
    /// SIGTERM (dockerd stops the containerd it started), SIGKILL after 20 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_pushes_and_pulls_in_token_mode() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), "token");
    let host = wharf.host();
    seed(
        dir.path(),
        &format!("{host}/team-a/source:1"),
        &["--dest-creds", "alice:alice-pw"],
    );
    let docker = Dockerd::start(dir.path());

    let refused = docker.refused(&["pull", &format!("{host}/team-a/source:1")]);
    assert!(
        refused.contains("unauthorized") || refused.contains("authentication required") || refused.contains("denied"),
        "{refused}"
    );
    docker.run(&["login", "-u", "alice", "-p", "alice-pw", &host]);
    docker.run(&["pull", &format!("{host}/team-a/source:1")]);
    docker.run(&[
        "tag",
        &format!("{host}/team-a/source:1"),
        &format!("{host}/team-a/docker:1"),
    ]);
    docker.run(&["push", &format!("{host}/team-a/docker:1")]);

    docker.run(&[
        "tag",
        &format!("{host}/team-a/source:1"),
        &format!("{host}/readonly/docker:1"),
    ]);
    let refused = docker.refused(&["push", &format!("{host}/readonly/docker:1")]);
    assert!(
        refused.contains("denied") || refused.contains("unauthorized") || refused.contains("authentication required"),
        "{refused}"
    );

    docker.run(&[
        "rmi",
        "--force",
        &format!("{host}/team-a/source:1"),
        &format!("{host}/team-a/docker:1"),
        &format!("{host}/readonly/docker:1"),
    ]);
    docker.run(&["pull", &format!("{host}/team-a/docker:1")]);
    let images = docker.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let images = String::from_utf8_lossy(&images.stdout);
    assert!(images.contains(&format!("{host}/team-a/docker:1")), "{images}");
    docker.run(&["logout", &host]);
    drop(docker);
    drop(wharf);
    assert_log(dir.path(), "token");
}
