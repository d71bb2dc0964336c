//! Access control with real clients against `wharf serve --config FILE`: skopeo with
//! `--creds` in Basic and in token mode (where it fetches tokens from wharf's `/token`),
//! and oci-client with `RegistryAuth::Basic` in both modes. Each pushes, pulls, lists
//! tags, and is refused a push to a repository the user may only pull.

use crate::harness::{expect_refusal, expect_success, skopeo_output, WharfProcess};
use crate::oci_layout::{OciLayout, Platform, LAYER};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Every client run of these tests completes within this.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A config file for `mode` (basic or token): alice (group team-a) may pull and push
/// `team-a/*` and pull `readonly/*`; admin may do anything.
pub(crate) fn write_config(dir: &Path, mode: &str) -> PathBuf {
    let hash = |pw: &str| bcrypt::hash(pw, 4).unwrap().replacen("$2b$", "$2y$", 1);
    let config = format!(
        r#"
[auth]
mode = "{mode}"

[[auth.users]]
name = "alice"
password_hash = "{alice}"
groups = ["team-a"]

[[auth.users]]
name = "admin"
password_hash = "{admin}"

[[auth.rules]]
who = ["group:team-a"]
repositories = ["team-a/*"]
actions = ["pull", "push"]

[[auth.rules]]
who = ["user:alice"]
repositories = ["readonly/*"]
actions = ["pull"]

[[auth.rules]]
who = ["user:admin"]
repositories = ["*"]
actions = ["pull", "push", "delete"]

[auth.token]
service = "wharf-e2e"
"#,
        alice = hash("alice-pw"),
        admin = hash("admin-pw"),
    );
    let path = dir.join("wharf.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Starts wharf in `mode`, logging at `debug` to `dir/wharf.log` (see `assert_log`).
pub(crate) fn start(dir: &Path, mode: &str) -> WharfProcess {
    let config = write_config(dir, mode);
    WharfProcess::start_logging_to(
        &dir.join("data"),
        &["--config", config.to_str().unwrap()],
        &dir.join("wharf.log"),
    )
}

/// Reads the server's log: in token mode the client went through `/token` (so it
/// completed a token flow, not Basic on the API), and no password, Basic credential or
/// token is in it, even at `debug`.
pub(crate) fn assert_log(dir: &Path, mode: &str) {
    use base64::Engine;
    let log = std::fs::read_to_string(dir.join("wharf.log")).unwrap();
    assert!(log.contains("status=201"), "the access log was written:\n{log}");
    if mode == "token" {
        assert!(log.contains("path=\"/token\""), "the client fetched a token:\n{log}");
    }
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:alice-pw");
    for secret in ["alice-pw", "admin-pw", basic.as_str(), "eyJ", "authorization:"] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
}

/// An OCI layout holding one small image tagged `1`.
pub(crate) fn write_layout(root: &Path) {
    let mut layout = OciLayout::create(root);
    // An empty tar archive: two zero blocks.
    let layer = layout.add_blob(LAYER, &[0u8; 1024]);
    let image = layout.add_image(
        Platform {
            os: "linux",
            architecture: "amd64",
        },
        &[layer],
    );
    layout.tag(&image.manifest, "1");
    layout.finish();
}

fn succeeds(args: &[&str]) -> Output {
    expect_success("skopeo", args, skopeo_output(args))
}

/// Runs skopeo expecting a refusal; returns its error output, lower-cased.
fn fails(args: &[&str]) -> String {
    expect_refusal("skopeo", args, skopeo_output(args))
}

fn skopeo_scenario(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), mode);
    let layout = dir.path().join("layout");
    write_layout(&layout);
    let source = format!("oci:{}:1", layout.display());
    let repo = |name: &str| format!("docker://{}/{name}", wharf.host());

    // Push, list and pull back as alice.
    succeeds(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:alice-pw",
        &source,
        &repo("team-a/app:1"),
    ]);
    let listed = succeeds(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        "alice:alice-pw",
        &repo("team-a/app"),
    ]);
    let tags: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["1"]));
    let out = dir.path().join("out");
    succeeds(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:alice-pw",
        &repo("team-a/app:1"),
        &format!("oci:{}:1", out.display()),
    ]);
    assert!(out.join("index.json").exists());

    // readonly/: admin pushes, alice may pull but not push.
    succeeds(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "admin:admin-pw",
        &source,
        &repo("readonly/app:1"),
    ]);
    succeeds(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "alice:alice-pw",
        &repo("readonly/app:1"),
    ]);
    let refused = fails(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:alice-pw",
        &source,
        &repo("readonly/app:2"),
    ]);
    assert!(
        refused.contains("denied") || refused.contains("unauthorized") || refused.contains("authentication required"),
        "{refused}"
    );

    // Wrong or no credentials get nothing.
    fails(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        "alice:wrong",
        &repo("team-a/app"),
    ]);
    fails(&["list-tags", "--tls-verify=false", "--no-creds", &repo("team-a/app")]);
    drop(wharf);
    assert_log(dir.path(), mode);
}

#[test]
fn skopeo_with_creds_in_basic_mode() {
    skopeo_scenario("basic");
}

#[test]
fn skopeo_with_creds_in_token_mode() {
    skopeo_scenario("token");
}

fn oci_client() -> Client {
    wharf_testkit::install_crypto_provider();
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        connect_timeout: Some(Duration::from_secs(5)),
        read_timeout: Some(Duration::from_secs(60)),
        no_proxy: Some("127.0.0.1".into()),
        ..ClientConfig::default()
    })
}

async fn bounded<T>(operation: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, operation)
        .await
        .expect("the client operation finished in time")
}

async fn oci_client_scenario(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wharf = start(dir.path(), mode);
    let alice = RegistryAuth::Basic("alice".into(), "alice-pw".into());
    let layers = vec![ImageLayer::oci_v1(vec![7u8; 4096], None)];
    let config = Config::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);

    let image = Reference::with_tag(wharf.host(), "team-a/oci".into(), "v1".into());
    let client = oci_client();
    bounded(client.push(&image, &layers, config.clone(), &alice, None))
        .await
        .expect("alice pushes to team-a/");
    let pulled = bounded(client.pull(&image, &alice, vec![IMAGE_LAYER_MEDIA_TYPE]))
        .await
        .expect("alice pulls from team-a/");
    assert_eq!(pulled.layers[0].data.as_ref(), &[7u8; 4096][..]);
    let tags = bounded(client.list_tags(&image, &alice, None, None))
        .await
        .expect("list_tags");
    assert_eq!(tags.tags, ["v1"]);

    let denied = Reference::with_tag(wharf.host(), "readonly/oci".into(), "v1".into());
    let refused = bounded(oci_client().push(&denied, &layers, config.clone(), &alice, None)).await;
    assert!(refused.is_err(), "a push to readonly/ is refused");
    let wrong = RegistryAuth::Basic("alice".into(), "wrong".into());
    let refused = bounded(oci_client().pull(&image, &wrong, vec![IMAGE_LAYER_MEDIA_TYPE])).await;
    assert!(refused.is_err(), "a wrong password is refused");
    drop(wharf);
    assert_log(dir.path(), mode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_client_with_basic_credentials_in_basic_mode() {
    oci_client_scenario("basic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_client_with_basic_credentials_in_token_mode() {
    oci_client_scenario("token").await;
}
