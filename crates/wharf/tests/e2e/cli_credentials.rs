//! Credentials kept the ways docker and podman keep them: a credential helper named by
//! docker's config.json (`credsStore`, or `credHelpers` for one registry), the
//! containers auth.json (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`)
//! and identity tokens. The helper is a small shell script written by the test, which
//! keeps credentials in files beside itself and logs each action it is asked for.

use crate::auth_clients;
use crate::cli_harness::{runtime, Cli};
use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `docker-credential-NAME` in `bin`: `get`/`erase` read the server URL on stdin,
/// `store` reads the credential JSON; credentials are kept under `bin/store-NAME/`.
fn write_helper(bin: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        r#"#!/bin/sh
dir="$(dirname "$0")/store-{name}"
mkdir -p "$dir"
echo "$1" >> "$dir/calls"
key() {{ printf %s "$1" | tr '/:' '__'; }}
case "$1" in
get)
  read -r server
  if [ -f "$dir/$(key "$server")" ]; then cat "$dir/$(key "$server")"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store)
  json=$(cat)
  server=$(printf %s "$json" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
  printf %s "$json" > "$dir/$(key "$server")" ;;
erase)
  read -r server
  if [ -f "$dir/$(key "$server")" ]; then rm "$dir/$(key "$server")"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown action $1"; exit 1 ;;
esac
"#
    );
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

/// A CLI whose PATH starts with `bin` (where the helpers are).
fn cli_with_helpers(bin: &Path) -> Cli {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    Cli::new().with_env("PATH", &path)
}

fn calls(bin: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(bin.join(format!("store-{name}")).join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_config(cli: &Cli, config: &Value) {
    std::fs::create_dir_all(cli.docker_config().parent().unwrap()).unwrap();
    std::fs::write(cli.docker_config(), config.to_string()).unwrap();
}

#[test]
fn login_stores_through_the_creds_store_and_logout_erases() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = auth_clients::start(dir.path(), "basic");
    let host = wharf.host();
    let bin = dir.path().join("bin");
    write_helper(&bin, "filestore");
    let cli = cli_with_helpers(&bin);
    write_config(&cli, &json!({ "credsStore": "filestore" }));
    let file = cli.file("f.txt", b"kept by a helper\n");
    let app = format!("{host}/team-a/app:1");

    let answer = cli.json(&["login", &host, "-u", "alice", "-p", "alice-pw"]);
    assert_eq!(answer["storedIn"], "docker-credential-filestore");
    let config: Value = serde_json::from_slice(&std::fs::read(cli.docker_config()).unwrap()).unwrap();
    assert_eq!(config["credsStore"], "filestore", "{config}");
    assert!(
        config["auths"].get(host.as_str()).is_none(),
        "no password in config.json: {config}"
    );
    let kept = std::fs::read_to_string(bin.join("store-filestore").join(host.replace(':', "_"))).unwrap();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        kept,
        json!({ "ServerURL": host, "Username": "alice", "Secret": "alice-pw" })
    );

    // Later commands get the credential from the helper.
    cli.ok(&["push", &app, &file]);
    assert!(calls(&bin, "filestore").contains(&"get".to_string()));

    assert_eq!(cli.json(&["logout", &host])["removed"], true);
    assert_eq!(calls(&bin, "filestore").last().map(String::as_str), Some("erase"));
    let line = cli.fails(&["push", &app, &file], 4);
    assert!(line.contains("wharf login"), "{line}");
    assert_eq!(cli.json(&["logout", &host])["removed"], false);
}

#[test]
fn cred_helpers_name_a_helper_per_registry_and_missing_ones_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = auth_clients::start(dir.path(), "basic");
    let host = wharf.host();
    let bin = dir.path().join("bin");
    write_helper(&bin, "mine");
    let cli = cli_with_helpers(&bin);
    // The per-registry helper wins over a store that is not even installed.
    write_config(
        &cli,
        &json!({ "credsStore": "not-installed", "credHelpers": { host.as_str(): "mine" } }),
    );
    cli.ok(&["login", &host, "-u", "alice", "-p", "alice-pw"]);
    assert_eq!(calls(&bin, "mine"), ["store"]);
    let file = cli.file("f.txt", b"x");
    cli.ok(&["push", &format!("{host}/team-a/app:1"), &file]);

    // A helper named for this registry but missing from PATH is a clear error.
    write_config(&cli, &json!({ "credHelpers": { host.as_str(): "not-installed" } }));
    let line = cli.fails(&["inspect", &format!("{host}/team-a/app:1")], 1);
    assert!(
        line.contains("docker-credential-not-installed") && line.contains("PATH"),
        "{line}"
    );
}

#[test]
fn containers_auth_json_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = auth_clients::start(dir.path(), "basic");
    let host = wharf.host();
    let auth = |user: &str, pw: &str| {
        json!({ "auths": { host.as_str(): {
            "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}")) } } })
    };
    let probe = Cli::new();
    let file = probe.file("f.txt", b"x");
    let app = format!("{host}/team-a/app:1");

    // REGISTRY_AUTH_FILE, as podman and skopeo read it.
    let explicit = dir.path().join("explicit-auth.json");
    std::fs::write(&explicit, auth("alice", "alice-pw").to_string()).unwrap();
    let cli = Cli::new().with_env("REGISTRY_AUTH_FILE", explicit.to_str().unwrap());
    cli.ok(&["push", &app, &file]);

    // $XDG_RUNTIME_DIR/containers/auth.json, as `podman login` writes it.
    let runtime_dir = dir.path().join("run");
    std::fs::create_dir_all(runtime_dir.join("containers")).unwrap();
    std::fs::write(
        runtime_dir.join("containers").join("auth.json"),
        auth("admin", "admin-pw").to_string(),
    )
    .unwrap();
    let cli = Cli::new().with_env("XDG_RUNTIME_DIR", runtime_dir.to_str().unwrap());
    cli.ok(&["delete", &app]);

    // A wrong password there is refused like any other.
    std::fs::write(&explicit, auth("alice", "wrong").to_string()).unwrap();
    let cli = Cli::new().with_env("REGISTRY_AUTH_FILE", explicit.to_str().unwrap());
    cli.fails(&["push", &app, &file], 4);
}

#[test]
fn identity_tokens_are_traded_with_the_refresh_token_grant() {
    let dir = tempfile::tempdir().unwrap();
    let wharf = auth_clients::start(dir.path(), "token");
    let host = wharf.host();
    // An offline (refresh) token, as `docker login` obtains and keeps as identitytoken.
    let refresh = runtime().block_on(async {
        let response = crate::harness::http_client()
            .get(format!(
                "http://{host}/token?service=wharf-e2e&offline_token=true&client_id=test"
            ))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body: Value = response.json().await.unwrap();
        body["refresh_token"].as_str().expect("a refresh token").to_string()
    });
    let cli = Cli::new();
    let user_only = base64::engine::general_purpose::STANDARD.encode("alice:");
    write_config(
        &cli,
        &json!({ "auths": { host.as_str(): { "auth": user_only, "identitytoken": refresh } } }),
    );
    let file = cli.file("f.txt", b"x");
    cli.ok(&["push", &format!("{host}/team-a/app:1"), &file]);
    cli.fails(&["push", &format!("{host}/readonly/app:1"), &file], 4);

    // A helper may hand out the identity token too (user name `<token>`).
    let bin = dir.path().join("bin");
    write_helper(&bin, "tokens");
    let stored = json!({ "ServerURL": host, "Username": "<token>", "Secret": refresh });
    std::fs::create_dir_all(bin.join("store-tokens")).unwrap();
    std::fs::write(
        bin.join("store-tokens").join(host.replace(':', "_")),
        stored.to_string(),
    )
    .unwrap();
    let cli = cli_with_helpers(&bin);
    write_config(&cli, &json!({ "credsStore": "tokens" }));
    cli.ok(&["push", &format!("{host}/team-a/app:2"), &file]);
    // A token that is not a refresh token is refused.
    std::fs::write(
        bin.join("store-tokens").join(host.replace(':', "_")),
        json!({ "ServerURL": host, "Username": "<token>", "Secret": "bogus" }).to_string(),
    )
    .unwrap();
    cli.fails(&["push", &format!("{host}/team-a/app:3"), &file], 4);
}
