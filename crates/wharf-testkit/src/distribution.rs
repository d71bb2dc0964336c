//! CNCF Distribution (Debian's `docker-registry`, 2.8) as a child process: the reference
//! registry that wharf's client must interoperate with, and a second opinion on what
//! the protocol allows.
//!
//! Each [`Distribution`] is a private instance: its own port on 127.0.0.1, its own
//! temporary storage directory and log file, and no auth unless asked for (htpasswd
//! Basic auth, the simplest scheme a client must handle). It never relies on the system
//! service Debian may have installed (that one listens on :5000 with its own storage).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts the binary; `scripts/test` installs the package when it is missing.
const BINARY: &str = "/usr/bin/docker-registry";

/// How long start-up may take before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A port another process can take between our probe and Distribution's bind; start-up
/// is retried on a new port this many times when that happens.
const BIND_ATTEMPTS: usize = 3;

/// A running `docker-registry serve`; killed (SIGKILL) and its storage removed on drop.
pub struct Distribution {
    child: Child,
    port: u16,
    // Dropped after `child` is killed (see `Drop`), so the registry never sees its
    // storage vanish underneath it.
    dir: tempfile::TempDir,
}

impl Distribution {
    /// Starts a fresh registry without auth and waits until `GET /v2/` answers 200 (at
    /// most 30 s).
    ///
    /// Panics when the binary is missing, when the process exits during start-up, or
    /// when it does not come up in time; the panic message carries the log's tail.
    pub fn start() -> Distribution {
        Self::launch(None)
    }

    /// Like [`Distribution::start`], but every request needs HTTP Basic credentials
    /// `user`/`password` (htpasswd with bcrypt, as Distribution requires); without them
    /// it answers 401 with `WWW-Authenticate: Basic realm="wharf-testkit"`.
    pub fn start_with_basic_auth(user: &str, password: &str) -> Distribution {
        assert!(!user.contains(':'), "a Basic auth user name has no ':'");
        Self::launch(Some(BasicAuth {
            user: user.to_string(),
            password: password.to_string(),
        }))
    }

    fn launch(auth: Option<BasicAuth>) -> Distribution {
        let binary = binary();
        let mut last_log = String::new();
        for _ in 0..BIND_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("wharf-distribution-")
                .tempdir()
                .expect("a temporary directory for Distribution is created");
            let port = free_port();
            let config = write_config(dir.path(), port, auth.as_ref());
            let log = std::fs::File::create(log_path(dir.path())).expect("Distribution's log file is created");
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                // Distribution reads REGISTRY_* variables as configuration overrides; a
                // stray one in the environment must not change the test's registry.
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file handle is cloned"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
            let mut registry = Distribution { child, port, dir };
            match registry.wait_ready(auth.as_ref()) {
                Ok(()) => return registry,
                Err(Startup::PortTaken) => last_log = registry.log_tail(),
                Err(Startup::Failed(why)) => panic!("Distribution {why}; its log ends with:\n{}", registry.log_tail()),
            }
        }
        panic!("Distribution found its port taken {BIND_ATTEMPTS} times; its last log ends with:\n{last_log}");
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT`, as image references name the registry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The filesystem driver's root directory, for tests that inspect or damage storage.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file that Distribution's stdout and stderr go to.
    pub fn log_file(&self) -> PathBuf {
        log_path(self.dir.path())
    }

    /// The last lines of the log, for assertion messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_ready(&mut self, auth: Option<&BasicAuth>) -> Result<(), Startup> {
        let authorization = auth.map(BasicAuth::header);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                if self.log_tail().contains("address already in use") {
                    return Err(Startup::PortTaken);
                }
                return Err(Startup::Failed(format!("exited during start-up ({status})")));
            }
            if get_status(self.port, "/v2/", authorization.as_deref()) == Some(200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Startup::Failed(format!(
            "did not answer GET /v2/ with 200 on port {} within {} s",
            self.port,
            START_TIMEOUT.as_secs()
        )))
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct BasicAuth {
    user: String,
    password: String,
}

impl BasicAuth {
    /// The `Authorization` header value.
    fn header(&self) -> String {
        use base64::Engine as _;
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    /// One htpasswd line. Cost 4, the lowest bcrypt allows: tests need no strength, and
    /// Distribution checks the password on every request.
    fn htpasswd_line(&self) -> String {
        let hash = bcrypt::hash(&self.password, 4).expect("the password is hashed");
        format!("{}:{hash}\n", self.user)
    }
}

enum Startup {
    PortTaken,
    Failed(String),
}

fn binary() -> PathBuf {
    installed(Path::new(BINARY))
}

/// `path`, or a panic that says how to get it.
fn installed(path: &Path) -> PathBuf {
    if !path.is_file() {
        panic!(
            "docker-registry not installed: scripts/test installs it (Debian package docker-registry, {})",
            path.display()
        );
    }
    path.to_path_buf()
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("distribution.log")
}

/// A port free at the time of asking (the listener is closed before returning).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a loopback port is free")
        .port()
}

/// Writes `config.yml` (and `htpasswd` for `auth`) into `dir` and returns the config's
/// path. Upload purging is off so that no background job removes a test's unfinished
/// upload; deletes are on so that the client's delete paths can be tested.
fn write_config(dir: &Path, port: u16, auth: Option<&BasicAuth>) -> PathBuf {
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage).expect("Distribution's storage directory is created");
    let mut config = format!(
        "version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
",
        storage = storage.display()
    );
    if let Some(auth) = auth {
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, auth.htpasswd_line()).expect("the htpasswd file is written");
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: wharf-testkit\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, config).expect("Distribution's config is written");
    path
}

/// The status of a plain `GET` on the loopback port, or `None` if there is no answer yet.
/// Hand-written HTTP/1.0 so that start-up needs no async runtime and works from both
/// `#[test]` and `#[tokio::test]`.
fn get_status(port: u16, path: &str, authorization: Option<&str>) -> Option<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let authorization = authorization.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{authorization}\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    // "HTTP/1.1 200 OK"
    let line = std::str::from_utf8(&head[..len]).ok()?;
    line.split(' ').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "docker-registry not installed: scripts/test installs it")]
    fn a_missing_binary_says_how_to_install_it() {
        installed(Path::new("/nonexistent/docker-registry"));
    }

    #[test]
    fn the_config_is_private_and_deletes_are_on() {
        let dir = tempfile::tempdir().unwrap();
        let config = std::fs::read_to_string(write_config(dir.path(), 4321, None)).unwrap();
        assert!(config.contains("addr: 127.0.0.1:4321"));
        assert!(config.contains("delete:\n    enabled: true"));
        assert!(!config.contains("auth:"));
    }
}
