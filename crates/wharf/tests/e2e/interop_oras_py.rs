//! oras-py (PyPI `oras` 0.2.43, the ORAS Python SDK) against `wharf serve` in token
//! mode: push a file as an artifact, pull it back, and be refused a push where the user
//! may only pull.
//!
//! oras-py keeps the first token it gets for the rest of a push, and the first request
//! of a push is a `HEAD` of the blob; wharf's challenge for that `HEAD` asks for
//! `pull,push`, so the token it gets can upload (see `scope_for` in
//! wharf-registry's authorize.rs).
//!
//! The Python that has oras-py installed is `$WHARF_TEST_PYTHON` (scripts/test makes a
//! virtual environment under the target directory and sets it), else `python3`.

use crate::auth_clients::{assert_log, start};
use crate::harness::run_bounded;
use std::process::{Command, Output};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Pushes `artifact.txt` from the working directory to `TARGET` as alice, or pulls
/// `TARGET` into `out/` and prints the files it wrote, one a line.
const SCRIPT: &str = r#"
import sys
import oras.provider

action, host, target = sys.argv[1], sys.argv[2], sys.argv[3]
registry = oras.provider.Registry(hostname=host, insecure=True)
registry.auth.set_basic_auth("alice", "alice-pw")
if action == "push":
    response = registry.push(target=target, files=["artifact.txt"])
    print(response.status_code)
else:
    for path in registry.pull(target=target, outdir="out"):
        print(path)
"#;

fn python() -> String {
    std::env::var("WHARF_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn oras_py(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(python());
    command
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    run_bounded(command, TIMEOUT)
}

#[test]
fn oras_py_pushes_and_pulls_in_token_mode() {
    let check = run_bounded(
        {
            let mut c = Command::new(python());
            c.args(["-c", "import oras.version; print(oras.version.__version__)"]);
            c
        },
        TIMEOUT,
    );
    assert!(
        check.status.success(),
        "oras-py is not installed for {} (scripts/test installs it into a virtual environment and sets WHARF_TEST_PYTHON):\n{}",
        python(),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "0.2.43");

    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), "token");
    let host = wharf.host();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("artifact.txt"), "pushed by oras-py\n").unwrap();

    let pushed = oras_py(&work, &["push", &host, &format!("{host}/team-a/oras:1")]);
    assert!(
        pushed.status.success(),
        "oras-py push failed:\n{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&pushed.stdout).trim(), "201");

    let pulled = oras_py(&work, &["pull", &host, &format!("{host}/team-a/oras:1")]);
    assert!(
        pulled.status.success(),
        "oras-py pull failed:\n{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(work.join("out/artifact.txt")).unwrap(),
        "pushed by oras-py\n"
    );

    let refused = oras_py(&work, &["push", &host, &format!("{host}/readonly/oras:1")]);
    assert!(
        !refused.status.success() || String::from_utf8_lossy(&refused.stdout).trim() != "201",
        "a push to readonly/ is refused"
    );
    drop(wharf);
    assert_log(dir.path(), "token");
}
