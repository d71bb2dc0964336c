//! Starts `wharf serve` as a child process on a free loopback port; and the test content
//! and plain HTTP steps that the crash, shutdown and memory tests share.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sha2::{Digest, Sha256};

/// A running `wharf serve`; killed (SIGKILL) when dropped.
pub struct WharfProcess {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
}

/// A port free at the time of asking (the listener is closed before returning).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl WharfProcess {
    /// Starts wharf over `data_dir` with `extra` arguments and waits until `/v2/`
    /// answers (at most 30 s).
    pub fn start(data_dir: &Path, extra: &[&str]) -> WharfProcess {
        Self::start_on(free_port(), data_dir, extra)
    }

    pub fn start_on(port: u16, data_dir: &Path, extra: &[&str]) -> WharfProcess {
        Self::spawn(port, data_dir, extra, "warn", Stdio::inherit())
    }

    /// Like `start_on`, with what the server logs under `log_filter` appended to `log`
    /// (a file several restarts of the server share).
    pub fn start_on_appending_log(
        port: u16,
        data_dir: &Path,
        extra: &[&str],
        log_filter: &str,
        log: &Path,
    ) -> WharfProcess {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file opens");
        Self::spawn(port, data_dir, extra, log_filter, Stdio::from(file))
    }

    /// Like `start`, with everything the server logs at `debug` (access lines included)
    /// written to `log`, for tests that read the log afterwards.
    pub fn start_logging_to(data_dir: &Path, extra: &[&str], log: &Path) -> WharfProcess {
        let file = std::fs::File::create(log).expect("log file is created");
        Self::spawn(free_port(), data_dir, extra, "debug", Stdio::from(file))
    }

    /// Like `start`, with the open-file limit (soft and hard) set to `open_files`, so
    /// that wharf cannot raise it.
    pub fn start_with_open_file_limit(data_dir: &Path, extra: &[&str], open_files: u64) -> WharfProcess {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: open_files,
                    rlim_max: open_files,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn_command(command, free_port(), data_dir, extra, "warn", Stdio::inherit())
    }

    /// Like `start`, with these environment variables set for the server (credentials
    /// of a storage service).
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> WharfProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command.envs(env.iter().copied());
        Self::spawn_command(command, free_port(), data_dir, extra, "warn", Stdio::inherit())
    }

    /// Like `start_with_env`, on `port`.
    pub fn start_on_with_env(port: u16, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> WharfProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command.envs(env.iter().copied());
        Self::spawn_command(command, port, data_dir, extra, "warn", Stdio::inherit())
    }

    fn spawn(port: u16, data_dir: &Path, extra: &[&str], log_filter: &str, log: Stdio) -> WharfProcess {
        let command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        Self::spawn_command(command, port, data_dir, extra, log_filter, log)
    }

    fn spawn_command(
        mut command: Command,
        port: u16,
        data_dir: &Path,
        extra: &[&str],
        log_filter: &str,
        log: Stdio,
    ) -> WharfProcess {
        let child = command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("WHARF_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("wharf binary starts");
        let mut process = WharfProcess {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
        };
        process.wait_ready();
        process
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("wharf exited during start-up: {status}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("wharf did not listen on port {} within 30 s", self.port);
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as registry references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status once it stopped (at most 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.wait_exit()
    }

    /// SIGTERM, without waiting for the process to stop.
    pub fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        Command::new("kill").arg("-TERM").arg(&pid).status().expect("kill runs");
    }

    /// The exit status once the process stopped (at most 30 s).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(Instant::now() < deadline, "wharf did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WharfProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Peak resident memory (`VmHWM`) of process `pid`, in KiB.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status is readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("/proc/<pid>/status has a VmHWM line")
}

// Test content and a few plain HTTP steps of the distribution API, shared by the crash,
// shutdown and memory tests. They use reqwest and sha2 only, never wharf's own code, so
// a bug in wharf's hashing cannot hide itself.

/// Byte `i` of test stream `seed` depends on nothing else, so any slice of any blob can
/// be produced again instead of being kept in memory.
pub fn content(seed: u64, range: std::ops::Range<u64>) -> Vec<u8> {
    let first_word = range.start / 8;
    let end_word = range.end.div_ceil(8);
    let mut words = vec![0u8; ((end_word - first_word) * 8) as usize];
    for (w, bytes) in (first_word..).zip(words.chunks_exact_mut(8)) {
        bytes.copy_from_slice(&mix(seed, w).to_le_bytes());
    }
    let skip = (range.start - first_word * 8) as usize;
    words.copy_within(skip.., 0);
    words.truncate((range.end - range.start) as usize);
    words
}

/// splitmix64's finaliser over (seed, word index): fast and well spread.
fn mix(seed: u64, word: u64) -> u64 {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(word);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first `len` bytes of stream `seed`, generated `piece` bytes at a time.
pub fn content_stream(
    seed: u64,
    len: u64,
    piece: u64,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::iter((0..len).step_by(piece as usize))
        .map(move |at| Ok(bytes::Bytes::from(content(seed, at..len.min(at + piece)))))
}

/// `sha256:<hex>` of the first `len` bytes of stream `seed`.
pub fn content_digest(seed: u64, len: u64) -> String {
    let mut hasher = Sha256::new();
    for at in (0..len).step_by(1 << 20) {
        hasher.update(content(seed, at..len.min(at + (1 << 20))));
    }
    sha256_string(hasher)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> String {
    sha256_string(Sha256::new_with_prefix(bytes))
}

/// `sha256:<hex>` of the file at `path`, read 1 MiB at a time.
pub fn sha256_of_file(path: &Path) -> String {
    format!("sha256:{}", hex_digest_of_file::<Sha256>(path))
}

fn sha256_string(hasher: Sha256) -> String {
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// Lower-case hex, as digests are written.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A client for loopback tests: no proxy, and no request waits forever.
pub fn http_client() -> reqwest::Client {
    wharf_testkit::http_client_builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        // Below the server's idle timeout (60 s), as clients that keep connections
        // should be: a connection the server closes for idleness just as the client
        // reuses it fails a request that was never answered.
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client builds")
}

/// Opens an upload session in `repo` (POST, 202) and returns its absolute URL.
pub async fn open_upload(http: &reqwest::Client, base: &str, repo: &str) -> reqwest::Result<String> {
    let response = http.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await?;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::ACCEPTED,
        "POST upload to {repo}"
    );
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("Location is text");
    Ok(absolute(base, location))
}

/// `location` (absolute or a path) as an absolute URL.
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// `url` with `?digest=` (or `&digest=`) appended.
pub fn with_digest(url: &str, digest: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}digest={digest}")
}

/// What a streamed GET returned: its status, and the digest and length of its body.
#[derive(Debug, PartialEq, Eq)]
pub struct Fetched {
    pub status: reqwest::StatusCode,
    pub digest: String,
    pub len: u64,
}

/// GETs `url` and hashes the body as it streams in, never holding it whole.
pub async fn fetch_hashed(http: &reqwest::Client, url: &str) -> reqwest::Result<Fetched> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let mut body = response.bytes_stream();
    let (mut hasher, mut len) = (Sha256::new(), 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok(Fetched {
        status,
        digest: sha256_string(hasher),
        len,
    })
}

/// Hashes every stored blob, each file under `blobs/<algorithm>/<xx>/` and each small
/// blob packed in `blobs/small.sqlite`, and asserts each holds exactly the content its
/// name promises (nothing partial or corrupt was published). Returns how many blobs.
pub fn assert_stored_blobs_match_names(data_dir: &Path) -> usize {
    let mut count = assert_packed_blobs_match_digests(&data_dir.join("blobs").join("small.sqlite"));
    for algorithm in ["sha256", "sha512"] {
        let Ok(shards) = std::fs::read_dir(data_dir.join("blobs").join(algorithm)) else {
            continue;
        };
        for shard in shards {
            let shard = shard.expect("blob shard lists").path();
            for file in std::fs::read_dir(&shard).expect("blob shard is a directory") {
                let path = file.expect("blob file lists").path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("blob file name is text")
                    .to_string();
                assert!(
                    name.starts_with(shard.file_name().and_then(|s| s.to_str()).unwrap()),
                    "{} in wrong shard",
                    path.display()
                );
                assert_eq!(
                    hash_file(algorithm, &path),
                    name,
                    "blob file {} does not hash to its name",
                    path.display()
                );
                count += 1;
            }
        }
    }
    count
}

/// The packed blobs' count, each checked against its digest (none while the pack was
/// never created).
fn assert_packed_blobs_match_digests(pack: &Path) -> usize {
    if !pack.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open_with_flags(pack, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the small-blob pack opens");
    let mut rows = conn
        .prepare("SELECT digest, bytes FROM blobs")
        .expect("the pack has its table");
    let rows = rows
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)))
        .expect("the pack reads");
    let mut count = 0;
    for row in rows {
        let (digest, bytes) = row.expect("a packed blob reads");
        let (algorithm, hex) = digest.split_once(':').expect("a packed digest has an algorithm");
        let actual = match algorithm {
            "sha256" => hex_digest::<Sha256>(&bytes),
            _ => hex_digest::<sha2::Sha512>(&bytes),
        };
        assert_eq!(actual, hex, "packed blob {digest} does not hash to its digest");
        count += 1;
    }
    count
}

fn hash_file(algorithm: &str, path: &Path) -> String {
    match algorithm {
        "sha256" => hex_digest_of_file::<Sha256>(path),
        _ => hex_digest_of_file::<sha2::Sha512>(path),
    }
}

fn hex_digest<D: Digest>(bytes: &[u8]) -> String {
    hex(&D::digest(bytes))
}

fn hex_digest_of_file<D: Digest>(path: &Path) -> String {
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("blob file opens");
    let mut buf = vec![0u8; 1 << 20];
    let mut hasher = D::new();
    loop {
        match file.read(&mut buf).expect("blob file reads") {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    hex(&hasher.finalize())
}

/// The output of `tool args`, which must have succeeded; the test fails with the tool's
/// error output otherwise.
pub fn expect_success(tool: &str, args: &[&str], out: Output) -> Output {
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `tool args` must have been refused: its error output, lower-cased.
pub fn expect_refusal(tool: &str, args: &[&str], out: Output) -> String {
    assert!(
        !out.status.success(),
        "{tool} {args:?} succeeded but should have been refused"
    );
    String::from_utf8_lossy(&out.stderr).to_lowercase()
}

/// Runs `command` to completion, killing it and failing the test if it takes longer
/// than `timeout`. A missing program fails the test too.
pub fn run_bounded(command: Command, timeout: Duration) -> Output {
    run_bounded_with_stdin(command, &[], timeout)
}

/// Like [`run_bounded`], with `stdin` fed to the program (then closed).
pub fn run_bounded_with_stdin(mut command: Command, stdin: &[u8], timeout: Duration) -> Output {
    use std::io::Write;
    let description = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {description} ({e}); scripts/test installs the clients the tests run"));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("child can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{description} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Reads a pipe to its end on a thread of its own (so a full pipe never blocks the child).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Longest one skopeo run may take.
pub const SKOPEO_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs skopeo (with no signature policy to consult and no proxy) within `SKOPEO_TIMEOUT`.
pub fn skopeo_output(args: &[&str]) -> Output {
    let mut command = Command::new("skopeo");
    command
        .arg("--insecure-policy")
        .args(args)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    run_bounded(command, SKOPEO_TIMEOUT)
}
