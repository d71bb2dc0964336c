//! PostgreSQL from the Debian package as a private test server: one per test binary,
//! started on first use, with a fresh database per test.
//!
//! The server runs as an unprivileged user when the tests run as root (PostgreSQL
//! refuses root): `nobody`, through `setpriv`. Its data directory and unix socket live
//! in a temporary directory that user owns; it listens on a free loopback port, with
//! fsync off, since nothing of it must outlive the tests. A supervising shell holds a
//! pipe from the test process: when the test binary exits (however it ends), the pipe
//! closes and the shell stops the server and removes the directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The user the server runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

/// The superuser `initdb` creates (no password: trust on loopback and the socket).
const SUPERUSER: &str = "wharf";

/// A running PostgreSQL server, shared by the tests of one binary.
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    /// The supervisor's stdin: the server lives while it stays open.
    _lifeline: Mutex<(Child, ChildStdin)>,
    databases: AtomicUsize,
}

impl Postgres {
    /// The server of this test binary, started on first use. Panics with the reason if
    /// PostgreSQL is not installed (`scripts/test` installs the Debian package) or does
    /// not start in time.
    pub fn shared() -> &'static Postgres {
        static SERVER: OnceLock<Postgres> = OnceLock::new();
        SERVER.get_or_init(|| Postgres::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}")))
    }

    /// A URL to a new, empty database on the shared server.
    pub fn fresh_database() -> String {
        Postgres::shared().create_database()
    }

    fn start() -> Result<Postgres, String> {
        let bin = find_bin()?;
        let root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("wharf-pg-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?
            .keep();
        let data = dir.join("data");
        if root {
            chown_to_unprivileged(&dir)?;
        }
        let initdb = as_server_user(root, &bin.join("initdb"))
            .args([
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
                "-D",
            ])
            .arg(&data)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !initdb.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&initdb.stderr)));
        }
        let port = free_port()?;
        let postgres = shell_quote(&bin.join("postgres").to_string_lossy());
        let program = if root {
            format!("setpriv --reuid={UNPRIVILEGED} --regid=nogroup --clear-groups {postgres}")
        } else {
            postgres
        };
        let script = format!(
            "cd {dir}; {program} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=500 \
             -c shared_buffers=32MB </dev/null >{dir}/log 2>&1 & pid=$!; \
             read _ignored; kill -INT $pid; wait $pid; rm -rf {dir}",
            data = shell_quote(&data.to_string_lossy()),
            dir = shell_quote(&dir.to_string_lossy()),
        );
        let mut supervisor = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let stdin = supervisor.stdin.take().expect("piped stdin");
        let server = Postgres {
            port,
            bin,
            _lifeline: Mutex::new((supervisor, stdin)),
            databases: AtomicUsize::new(0),
        };
        server.wait_ready(&dir)?;
        Ok(server)
    }

    fn wait_ready(&self, dir: &Path) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                return Err(format!("not ready within {START_TIMEOUT:?}; its log:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a new database and returns its URL.
    pub fn create_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, &name])
            .output()
            .expect("running createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut lifeline = self._lifeline.lock().unwrap_or_else(|e| e.into_inner());
        let _ = lifeline.1.write_all(b"stop\n");
    }
}

/// The directory of PostgreSQL's programs: `WHARF_TEST_PG_BIN`, else the newest
/// version under Debian's `/usr/lib/postgresql/`.
fn find_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("WHARF_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "not installed (apt-get install postgresql; scripts/test does)".to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql)".to_string())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn chown_to_unprivileged(dir: &Path) -> Result<(), String> {
    let status = Command::new("chown")
        .arg(format!("{UNPRIVILEGED}:"))
        .arg(dir)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("chown {UNPRIVILEGED} {}: {status}", dir.display()))
    }
}

/// `program`, run as [`UNPRIVILEGED`] when we are root.
fn as_server_user(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args([&format!("--reuid={UNPRIVILEGED}"), "--regid=nogroup", "--clear-groups"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
