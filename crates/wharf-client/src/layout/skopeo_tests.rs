//! Interoperability with skopeo, the tool whose `oci:PATH:TAG` this module reads and
//! writes: skopeo must read what we write, and we must read what it writes. Skipped (with
//! a note) where skopeo is not installed.

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use wharf_oci::media_type::{OCI_CONFIG, OCI_MANIFEST};
use wharf_oci::Digest;

use super::*;

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Runs skopeo, killed if it has not finished within two minutes so a wedged process
/// fails the test instead of hanging it. `None` when skopeo is not installed.
async fn skopeo(args: &[&str]) -> Option<Output> {
    let mut cmd = tokio::process::Command::new("skopeo");
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(Ok(out)) => Some(out),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Ok(Err(e)) => panic!("skopeo {args:?}: {e}"),
        Err(_) => panic!("skopeo {args:?} did not finish within 120 s"),
    }
}

fn check(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "skopeo {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-layer image written through this module; returns the manifest's bytes.
async fn write_tiny_image(layout: &OciLayout, tag: &str) -> Vec<u8> {
    // An empty tar archive (two zero blocks) is a valid, if bare, layer; uncompressed,
    // so its digest is also its diff_id.
    let layer = vec![0u8; 1024];
    let layer_digest = Digest::sha256_of(&layer);
    let mut w = layout.blob_writer(&layer_digest, layer.len() as u64).await.unwrap();
    w.write_all(&layer).await.unwrap();
    w.commit().await.unwrap();

    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
    }))
    .unwrap();
    let config_digest = Digest::sha256_of(&config);
    layout.write_blob(&config_digest, &config).await.unwrap();

    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": LAYER_TAR, "digest": layer_digest.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = Digest::sha256_of(&manifest);
    layout.write_blob(&manifest_digest, &manifest).await.unwrap();
    let entry = LayoutEntry::new(OCI_MANIFEST, manifest_digest, manifest.len() as u64).with_ref_name(tag);
    layout.set_ref(entry).await.unwrap();
    manifest
}

#[tokio::test]
async fn skopeo_reads_what_we_write_and_we_read_what_it_writes() {
    if skopeo(&["--version"]).await.is_none() {
        eprintln!("skopeo is not installed: skipping the skopeo interoperability test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let layout = OciLayout::create(&src).await.unwrap();
    let manifest = write_tiny_image(&layout, "v1").await;
    let digest = Digest::sha256_of(&manifest);

    let src_ref = format!("oci:{}:v1", src.display());
    let args = ["inspect", "--raw", src_ref.as_str()];
    let out = skopeo(&args).await.unwrap();
    check(&args, &out);
    assert_eq!(out.stdout, manifest, "skopeo read other bytes than we wrote");

    // Into a new layout, and into ours beside the existing tag. Without
    // --preserve-digests skopeo would gzip the uncompressed layer on the way, making
    // another manifest.
    let dst_ref = format!("oci:{}:v2", dst.display());
    let same_ref = format!("oci:{}:v3", src.display());
    for to in [&dst_ref, &same_ref] {
        let args = [
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            src_ref.as_str(),
            to.as_str(),
        ];
        let out = skopeo(&args).await.unwrap();
        check(&args, &out);
    }

    let copied = OciLayout::open(&dst).await.unwrap();
    let entry = copied.resolve(Some("v2")).await.unwrap();
    assert_eq!(entry.digest, digest);
    assert_eq!(entry.media_type, OCI_MANIFEST);
    assert_eq!(copied.read_blob(&digest, 1 << 20).await.unwrap(), manifest);
    let parsed = wharf_oci::ParsedManifest::parse(Some(OCI_MANIFEST), &manifest).unwrap();
    for blob in parsed.required_references() {
        assert_eq!(copied.blob_size(&blob.digest).await.unwrap(), Some(blob.size));
    }

    // skopeo rewrote our index.json; it must still read as ours, both tags intact.
    let reopened = OciLayout::open(&src).await.unwrap();
    assert_eq!(reopened.resolve(Some("v1")).await.unwrap().digest, digest);
    assert_eq!(reopened.resolve(Some("v3")).await.unwrap().digest, digest);
}
