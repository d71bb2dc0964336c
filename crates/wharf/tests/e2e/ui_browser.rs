//! The web UI in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs) signs in, searches, opens a
//! two-platform index pushed by skopeo, follows its signature in the referrers tree,
//! deletes a tag through the confirmation, never sees another user's repository, and
//! signs out, after which a copy of the session cookie is refused.
//! Screenshots go to `<target>/tmp/ui-screenshots/` (the path is printed), and also to
//! `$WHARF_UI_SCREENSHOTS` when set.

use crate::harness::{http_client, skopeo_output, WharfProcess};
use crate::oci_layout::{OciLayout, Platform, LAYER};
use crate::webdriver::Browser;
use base64::Engine;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

const AMD64: Platform = Platform {
    os: "linux",
    architecture: "amd64",
};
const ARM64: Platform = Platform {
    os: "linux",
    architecture: "arm64",
};
const SIGNATURE_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// alice (group team-a) may pull, push and delete `team-a/*`; bob owns `bob/*`; admin
/// may do anything.
fn write_config(dir: &Path) -> PathBuf {
    let hash = |pw: &str| bcrypt::hash(pw, 4).unwrap().replacen("$2b$", "$2y$", 1);
    let config = format!(
        r#"
[auth]
mode = "basic"

[[auth.users]]
name = "alice"
password_hash = "{alice}"
groups = ["team-a"]

[[auth.users]]
name = "bob"
password_hash = "{bob}"

[[auth.rules]]
who = ["group:team-a"]
repositories = ["team-a/*"]
actions = ["pull", "push", "delete"]

[[auth.rules]]
who = ["user:bob"]
repositories = ["bob/*"]
actions = ["pull", "push", "delete"]
"#,
        alice = hash("alice-pw"),
        bob = hash("bob-pw"),
    );
    let path = dir.join("wharf.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn skopeo_copy(source: &str, destination: &str, creds: &str) {
    let output = skopeo_output(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        source,
        destination,
    ]);
    assert!(
        output.status.success(),
        "skopeo copy to {destination}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Pushes a cosign-style signature of `subject` into `repo`; its digest.
async fn push_signature(base: &str, repo: &str, subject: &str, subject_size: u64, auth: &str) -> String {
    let client = http_client();
    let mut descriptors = Vec::new();
    for (media_type, bytes) in [
        ("application/vnd.oci.empty.v1+json", b"{}".to_vec()),
        (
            "application/vnd.dev.cosign.simplesigning.v1+json",
            br#"{"critical":{}}"#.to_vec(),
        ),
    ] {
        let digest = sha256(&bytes);
        let r = client
            .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={digest}"))
            .header("authorization", auth)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "blob upload");
        descriptors.push(json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() }));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SIGNATURE_TYPE,
        "config": descriptors[0],
        "layers": [descriptors[1]],
        "subject": { "mediaType": "application/vnd.oci.image.index.v1+json", "digest": subject, "size": subject_size },
        "annotations": { "dev.cosignproject.cosign/signature": "MEUCIQ…" }
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256(&bytes);
    let r = client
        .put(format!("{base}/v2/{repo}/manifests/{digest}"))
        .header("authorization", auth)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "signature push");
    digest
}

struct Shots {
    dirs: Vec<PathBuf>,
}

impl Shots {
    fn new() -> Shots {
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")];
        if let Some(extra) = std::env::var_os("WHARF_UI_SCREENSHOTS") {
            dirs.push(PathBuf::from(extra));
        }
        for dir in &dirs {
            std::fs::create_dir_all(dir).unwrap();
        }
        println!("ui screenshots in {}", dirs[0].display());
        Shots { dirs }
    }

    async fn take(&self, browser: &Browser, name: &str) {
        let first = self.dirs[0].join(format!("{name}.png"));
        browser.screenshot(&first).await;
        for dir in &self.dirs[1..] {
            std::fs::copy(&first, dir.join(format!("{name}.png"))).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_browses_signs_in_inspects_and_deletes_in_chromium() {
    let Some(browser) = Browser::start().await else {
        println!(
            "SKIPPED: the web UI browser test needs {} and {} (Debian: chromium, chromium-driver)",
            crate::webdriver::CHROMIUM,
            crate::webdriver::CHROMEDRIVER
        );
        return;
    };
    let outcome = tokio::time::timeout(Duration::from_secs(180), scenario(&browser)).await;
    browser.close().await;
    outcome.expect("the browser test finishes within 180 s");
}

async fn scenario(browser: &Browser) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let wharf = WharfProcess::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let base = wharf.url();

    // A two-platform index, by skopeo, as team-a/web:1.0 and :old; bob's own image.
    let source = dir.path().join("source");
    let mut layout = OciLayout::create(&source);
    let images = [(AMD64, 21), (ARM64, 22)].map(|(platform, seed)| {
        let layer = layout.add_generated_blob(LAYER, seed, 32 << 10);
        layout.add_image(platform, &[layer])
    });
    let (index, _) = layout.add_index(&[&images[0], &images[1]]);
    layout.tag(&index, "multi");
    layout.finish();
    let from = format!("oci:{}:multi", source.display());
    let host = wharf.host();
    tokio::task::block_in_place(|| {
        for tag in ["1.0", "old"] {
            skopeo_copy(&from, &format!("docker://{host}/team-a/web:{tag}"), "alice:alice-pw");
        }
        skopeo_copy(&from, &format!("docker://{host}/bob/secret:v1"), "bob:bob-pw");
    });
    let signature = push_signature(
        &base,
        "team-a/web",
        &index.digest,
        index.size,
        &basic("alice", "alice-pw"),
    )
    .await;
    let shots = Shots::new();

    // Anonymous: nothing to see, and a way to sign in.
    browser.goto(&format!("{base}/")).await;
    browser.wait_for_url("/ui/").await;
    let text = browser.text().await;
    assert!(text.contains("No repositories you may see"), "{text}");
    browser.click("a[href='/ui/sign-in']").await;
    browser.type_into("input[name=username]", "alice").await;
    browser.type_into("input[name=password]", "alice-pw").await;
    browser.click("form.stack button[type=submit]").await;
    browser.wait_for_url("/ui/").await;
    let text = browser.text().await;
    assert!(text.contains("Signed in as alice"), "{text}");
    assert!(text.contains("team-a/web"), "{text}");
    assert!(
        !text.contains("bob/secret"),
        "another user's repository is shown: {text}"
    );
    shots.take(browser, "repositories").await;

    // Search.
    browser.type_into("input[name=q]", "web").await;
    browser.click("form[role=search] button").await;
    browser.wait_for_url("q=web").await;
    assert!(browser.text().await.contains("team-a/web"));
    browser.type_into("input[name=q]", "secret").await;
    browser.click("form[role=search] button").await;
    browser.wait_for_url("q=secret").await;
    let text = browser.text().await;
    assert!(text.contains("No repository matches"), "{text}");
    let hidden = browser.source().await;
    assert!(!hidden.contains("bob/secret"));

    // The repository, then the index with both platforms.
    browser.goto(&format!("{base}/ui/?q=web")).await;
    browser.click("a[href='/ui/repository?name=team-a%2Fweb']").await;
    browser.wait_for_url("/ui/repository").await;
    let text = browser.text().await;
    assert!(text.contains("1.0") && text.contains("old"), "{text}");
    assert!(text.contains("linux/amd64") && text.contains("linux/arm64"), "{text}");
    shots.take(browser, "repository").await;
    browser.click("a[href='/ui/manifest?name=team-a%2Fweb&ref=1.0']").await;
    browser.wait_for_url("/ui/manifest").await;
    let text = browser.text().await;
    assert!(text.contains("Platforms"), "{text}");
    for image in &images {
        assert!(
            text.contains(&image.manifest.digest[7..19]),
            "child {} missing: {text}",
            image.manifest.digest
        );
    }
    assert!(text.contains("docker pull"), "{text}");
    assert!(text.contains("signature"), "the referrers tree: {text}");
    shots.take(browser, "index").await;

    // Follow the signature.
    browser.click("a.referrer").await;
    browser.wait_for_url(&signature[7..]).await;
    let text = browser.text().await;
    assert!(text.contains(SIGNATURE_TYPE), "{text}");
    assert!(text.contains(&index.digest), "its subject: {text}");

    // Delete :old through the confirmation page and its dialog.
    browser
        .goto(&format!("{base}/ui/repository?name=team-a/web&sort=name"))
        .await;
    browser.click("a[href='/ui/delete?name=team-a%2Fweb&ref=old']").await;
    browser.wait_for_url("/ui/delete").await;
    assert!(browser.text().await.contains("Delete tag old from team-a/web?"));
    browser.click("button.danger").await;
    let question = browser.accept_dialog().await;
    assert!(question.contains("Delete tag old"), "{question}");
    browser.wait_for_url("/ui/repository").await;
    let tags = http_client()
        .get(format!("{base}/v2/team-a/web/tags/list"))
        .header("authorization", basic("alice", "alice-pw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(tags.contains("1.0") && !tags.contains("old"), "{tags}");

    // bob's repository, asked for by address, is answered like one that does not exist.
    browser.goto(&format!("{base}/ui/repository?name=bob/secret")).await;
    assert!(browser.text().await.contains("No such repository"));

    // A copy of the session cookie, taken before signing out, is useless after it.
    let copied = format!("wharf_ui={}", browser.cookie("wharf_ui").await);
    let as_copy = || async {
        http_client()
            .get(format!("{base}/ui/"))
            .header("cookie", &copied)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(as_copy().await.contains("Signed in as"), "the copy works before");
    browser.goto(&format!("{base}/ui/")).await;
    browser.click("form[action='/ui/sign-out'] button").await;
    browser.wait_for_url("/ui/").await;
    assert!(browser.text().await.contains("Sign in"));
    let after = as_copy().await;
    assert!(!after.contains("Signed in as"), "the copy still works: {after}");
    assert!(!after.contains("team-a/web"), "the copy still sees alice's repository");
}
