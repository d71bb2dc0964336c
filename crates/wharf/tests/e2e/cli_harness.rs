//! Runs the `wharf` client commands as a person or a script would: a child process per
//! command, bounded in time, with its own docker config directory (so no real
//! credentials are read or written), and the registries they talk to (wharf or CNCF
//! Distribution) on loopback.

use crate::harness::WharfProcess;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use wharf_testkit::Distribution;

/// Longest one CLI run may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// A registry for the CLI to talk to.
pub enum Registry {
    /// The process, then its data directory (dropped in that order).
    Wharf {
        process: WharfProcess,
        _dir: tempfile::TempDir,
    },
    Distribution(Distribution),
}

impl Registry {
    /// `wharf serve` over a fresh data directory.
    pub fn wharf() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let process = WharfProcess::start(&dir.path().join("data"), &[]);
        Registry::Wharf { process, _dir: dir }
    }

    /// CNCF Distribution 2.8 (no referrers API).
    pub fn distribution() -> Registry {
        Registry::Distribution(Distribution::start())
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        match self {
            Registry::Wharf { process, .. } => process.host(),
            Registry::Distribution(d) => d.host(),
        }
    }

    /// `127.0.0.1:PORT/<path>`
    pub fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.host())
    }

    pub fn is_wharf(&self) -> bool {
        matches!(self, Registry::Wharf { .. })
    }
}

/// The `wharf` binary with a private `HOME` and `DOCKER_CONFIG`, and scratch space.
pub struct Cli {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    pub fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Cli { dir, env: Vec::new() }
    }

    /// Sets a variable for every later run.
    pub fn with_env(mut self, key: &str, value: &str) -> Cli {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Where `wharf login` writes: `$DOCKER_CONFIG/config.json`.
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker").join("config.json")
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` to a scratch file and returns its path as text.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path().join("home"))
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        for var in [
            "WHARF_USERNAME",
            "WHARF_PASSWORD",
            "WHARF_LOG",
            "REGISTRY_AUTH_FILE",
            "WHARF_MIRRORS",
            "XDG_RUNTIME_DIR",
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            command.env_remove(var);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs `wharf ARGS…` to completion (at most `CLI_TIMEOUT`).
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, b"")
    }

    /// Runs `wharf ARGS…` with `stdin` as its standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        crate::harness::run_bounded_with_stdin(self.command(args), stdin, CLI_TIMEOUT)
    }

    /// Starts `wharf ARGS…` without waiting for it (stdout and stderr discarded), for a
    /// test that kills it midway; the caller bounds the wait.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the wharf binary starts")
    }

    /// Runs a command that must succeed, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "wharf {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs a command with `--json` that must succeed; its stdout is one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let stdout = self.ok(&with_json);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("wharf {args:?} --json printed no JSON ({e}):\n{stdout}"))
    }

    /// Runs a command that must fail with exit code `code` and one line on stderr,
    /// `wharf: …`; returns that line.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_failed(args, &out, code)
    }
}

/// Asserts `out` is a failure with `code` and a one-line `wharf: …` error; returns it.
pub fn assert_failed(args: &[&str], out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(code),
        "wharf {args:?}: exit code (stderr: {stderr})"
    );
    assert!(
        out.stdout.is_empty(),
        "wharf {args:?} printed on stdout while failing: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = stderr.trim_end_matches('\n');
    assert!(
        line.starts_with("wharf: ") && !line.contains('\n'),
        "wharf {args:?}: the error is not one `wharf: …` line:\n{stderr}"
    );
    line.to_string()
}

/// `sha256:<hex>` of a file's content.
pub fn digest_of(path: &Path) -> String {
    crate::harness::sha256_of(&std::fs::read(path).unwrap())
}

/// The digests in a `--json` list of descriptors.
pub fn digests(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|d| d["digest"].as_str().expect("a digest").to_string())
        .collect()
}

/// A tokio runtime for tests that set content up with the client library.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
