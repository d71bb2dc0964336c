//! `wharf login` and `logout` with a temporary DOCKER_CONFIG: against wharf in Basic and
//! token mode and against CNCF Distribution with htpasswd; a wrong password is exit
//! code 4 and stores nothing; stored credentials are used by every later command, and
//! so are `--username/--password` and WHARF_USERNAME/WHARF_PASSWORD.

use crate::auth_clients;
use crate::cli_harness::{assert_failed, Cli};
use serde_json::Value;
use wharf_testkit::Distribution;

#[test]
fn login_and_logout_with_wharf_in_basic_mode() {
    login_scenario("basic");
}

#[test]
fn login_and_logout_with_wharf_in_token_mode() {
    login_scenario("token");
}

fn login_scenario(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wharf = auth_clients::start(dir.path(), mode);
    let cli = Cli::new();
    let host = wharf.host();
    let file = cli.file("f.txt", b"private\n");
    let app = format!("{host}/team-a/app:1");

    let line = cli.fails(&["push", &app, &file], 4);
    assert!(line.contains("wharf login"), "says what to do: {line}");

    // A wrong password is refused, and nothing is stored.
    let out = cli.run_with_stdin(&["login", &host, "-u", "alice", "--password-stdin"], b"wrong\n");
    assert_failed(&["login"], &out, 4);
    assert!(!cli.docker_config().exists(), "no config written for a refused login");

    let out = cli.run_with_stdin(
        &["login", &host, "-u", "alice", "--password-stdin", "--json"],
        b"alice-pw\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["registry"], host.as_str());
    assert_eq!(answer["username"], "alice");
    let config: Value = serde_json::from_slice(&std::fs::read(cli.docker_config()).unwrap()).unwrap();
    assert!(config["auths"][host.as_str()]["auth"].is_string(), "{config}");

    // Stored credentials serve the next commands; the rules still hold.
    cli.ok(&["push", &app, &file]);
    assert_eq!(
        cli.json(&["tags", &format!("{host}/team-a/app")])["tags"],
        serde_json::json!(["1"])
    );
    let line = cli.fails(&["push", &format!("{host}/readonly/app:1"), &file], 4);
    eprintln!("{mode}: a push the rules refuse: {line}");
    // 403 (basic) or insufficient_scope (token): the credentials are fine, signing in
    // again cannot help.
    assert!(line.contains("lack the permission"), "{line}");
    assert!(!line.contains("wharf login"), "{line}");
    cli.fails(&["delete", &app], 4);

    let removed = cli.json(&["logout", &host]);
    assert_eq!(removed["removed"], true);
    cli.fails(&["push", &app, &file], 4);
    assert_eq!(cli.json(&["logout", &host])["removed"], false);

    // Flags and environment variables instead of a login; a wrong one is exit 4.
    cli.ok(&["inspect", &app, "--username", "admin", "--password", "admin-pw"]);
    cli.fails(&["inspect", &app, "-u", "admin", "-p", "nope"], 4);
    let env_cli = Cli::new()
        .with_env("WHARF_USERNAME", "admin")
        .with_env("WHARF_PASSWORD", "admin-pw");
    env_cli.ok(&["delete", &app]);
    env_cli.fails(&["inspect", &app], 3);
    // -p alone is a usage error, and so is a login without a password.
    cli.fails(&["inspect", &app, "-p", "x"], 2);
    cli.fails(&["login", &host, "-u", "alice"], 2);
    if mode == "token" {
        auth_clients::assert_log(dir.path(), mode);
    }
}

#[test]
fn login_against_distribution_with_htpasswd() {
    let registry = Distribution::start_with_basic_auth("bob", "bob-pw");
    let cli = Cli::new();
    let host = registry.host();
    let out = cli.run_with_stdin(
        &["login", &format!("http://{host}/"), "-u", "bob", "--password-stdin"],
        b"nope\n",
    );
    assert_failed(&["login"], &out, 4);
    let text = cli.ok(&["login", &host, "-u", "bob", "-p", "bob-pw"]);
    assert!(text.starts_with("Login Succeeded"), "{text}");
    let file = cli.file("f.txt", b"x");
    cli.ok(&["push", &format!("{host}/bob/app:1"), &file]);
    cli.fails(&["login", &host, "-u", "bob", "-p", "bob-pw", "--password-stdin"], 2);
    // Standard input takes the place of WHARF_PASSWORD.
    let env_cli = Cli::new().with_env("WHARF_PASSWORD", "stale");
    let out = env_cli.run_with_stdin(&["login", &host, "-u", "bob", "--password-stdin"], b"bob-pw\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cli.ok(&["logout", &host]).starts_with("Removed"));
    cli.fails(
        &[
            "pull",
            &format!("{host}/bob/app:1"),
            "-o",
            cli.path("o").to_str().unwrap(),
        ],
        4,
    );
}
