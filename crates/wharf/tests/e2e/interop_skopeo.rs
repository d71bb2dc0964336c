//! Interoperability with skopeo (containers/image, the library behind podman and
//! buildah): images written here as OCI layouts are copied into `wharf serve`, listed,
//! inspected, copied back out and deleted with the real `skopeo` binary, and what comes
//! back must be byte for byte what went in.
//!
//! skopeo must be installed (`scripts/test` installs it); without it these tests fail.
//! Every skopeo run is bounded by `SKOPEO_TIMEOUT`.

use crate::harness::{http_client, skopeo_output, WharfProcess};
use crate::oci_layout::{assert_holds, tagged, Descriptor, Image, OciLayout, Platform, INDEX, LAYER, MANIFEST};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

const AMD64: Platform = Platform {
    os: "linux",
    architecture: "amd64",
};
const ARM64: Platform = Platform {
    os: "linux",
    architecture: "arm64",
};

/// A multi-layer image of 100 MiB and more goes in, is tagged again, listed, inspected,
/// comes out unchanged, and is deleted by digest.
#[test]
fn skopeo_copies_a_large_multi_layer_image_in_and_out_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let image = timed("write the 100 MiB layout", || write_large_image(&source));
    let wharf = WharfProcess::start(&dir.path().join("data"), &[]);
    let repo = format!("docker://{}/interop/skopeo/big", wharf.host());

    timed("copy in", || {
        skopeo(&[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&source, "v1"),
            &format!("{repo}:v1"),
        ])
    });
    assert_eq!(
        inspect_raw(&format!("{repo}:v1")),
        image.manifest_bytes,
        "the manifest wharf serves for v1"
    );
    timed("copy registry to registry", || {
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("{repo}:v1"),
            &format!("{repo}:v2"),
        ])
    });
    assert_eq!(list_tags(&repo), ["v1", "v2"]);
    assert_inspect_describes(&format!("{repo}:v2"), &image);

    let out = dir.path().join("out");
    timed("copy out", || copy_out(&format!("{repo}:v1"), &out, "v1", false));
    assert_eq!(tagged(&out, "v1"), image.manifest, "the manifest descriptor copied out");
    image.blobs().for_each(|blob| assert_holds(&out, blob));

    let by_digest = format!("{repo}@{}", image.manifest.digest);
    timed("delete", || skopeo(&["delete", "--tls-verify=false", &by_digest]));
    let manifests = format!("{}/v2/interop/skopeo/big/manifests", wharf.url());
    for reference in [image.manifest.digest.as_str(), "v1", "v2"] {
        assert_eq!(
            http_status(&format!("{manifests}/{reference}")),
            404,
            "GET manifest {reference} after delete"
        );
    }
    let refused = skopeo_output(&["inspect", "--raw", "--tls-verify=false", &by_digest]);
    assert!(
        !refused.status.success(),
        "skopeo inspect of a deleted manifest succeeded"
    );
}

/// A two-platform index goes in with `--all`, keeps its digest and both platforms, and
/// comes out unchanged.
#[test]
fn skopeo_copies_a_two_platform_index_with_all() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let (images, index, index_bytes) = write_two_platform_index(&source);
    let wharf = WharfProcess::start(&dir.path().join("data"), &[]);
    let repo = format!("docker://{}/interop/skopeo/multi", wharf.host());

    timed("copy --all in", || {
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&source, "multi"),
            &format!("{repo}:multi"),
        ])
    });
    assert_eq!(
        inspect_raw(&format!("{repo}:multi")),
        index_bytes,
        "the index wharf serves"
    );
    for image in &images {
        let child = format!("{repo}@{}", image.manifest.digest);
        assert_eq!(
            inspect_raw(&child),
            image.manifest_bytes,
            "the {} manifest",
            image.platform.architecture
        );
        let inspected = skopeo_json(&[
            "inspect",
            "--tls-verify=false",
            "--override-os",
            image.platform.os,
            "--override-arch",
            image.platform.architecture,
            &format!("{repo}:multi"),
        ]);
        assert_eq!(
            inspected["Architecture"], image.platform.architecture,
            "skopeo inspect of the index: {inspected}"
        );
        assert_eq!(
            inspected["Layers"],
            layer_digests(image),
            "skopeo inspect of the index: {inspected}"
        );
    }
    assert_eq!(list_tags(&repo), ["multi"]);

    let out = dir.path().join("out");
    timed("copy --all out", || {
        copy_out(&format!("{repo}:multi"), &out, "multi", true)
    });
    assert_eq!(tagged(&out, "multi"), index, "the index descriptor copied out");
    assert_holds(&out, &index);
    images
        .iter()
        .flat_map(Image::blobs)
        .for_each(|blob| assert_holds(&out, blob));
}

/// Writes a layout tagged `v1`: an amd64 image of 3 layers (4 KiB, 100 MiB, 1 MiB).
fn write_large_image(root: &Path) -> Image {
    let mut layout = OciLayout::create(root);
    let layers =
        [(1, 4 << 10), (2, 100 << 20), (3, 1 << 20)].map(|(seed, len)| layout.add_generated_blob(LAYER, seed, len));
    let image = layout.add_image(AMD64, &layers);
    layout.tag(&image.manifest, "v1");
    layout.finish();
    image
}

/// Writes a layout tagged `multi`: an index of a small linux/amd64 and linux/arm64 image.
fn write_two_platform_index(root: &Path) -> ([Image; 2], Descriptor, Vec<u8>) {
    let mut layout = OciLayout::create(root);
    let images = [(AMD64, 10), (ARM64, 11)].map(|(platform, seed)| {
        let layer = layout.add_generated_blob(LAYER, seed, 64 << 10);
        layout.add_image(platform, &[layer])
    });
    let (index, index_bytes) = layout.add_index(&[&images[0], &images[1]]);
    assert_eq!(index.media_type, INDEX);
    layout.tag(&index, "multi");
    layout.finish();
    (images, index, index_bytes)
}

/// Copies `source` (a registry reference) into a new layout at `out` as `tag`, keeping
/// layers uncompressed and every digest as it is.
fn copy_out(source: &str, out: &Path, tag: &str, all: bool) {
    let destination = oci(out, tag);
    let mut args = vec![
        "copy",
        "--preserve-digests",
        "--dest-oci-accept-uncompressed-layers",
        "--src-tls-verify=false",
    ];
    if all {
        args.push("--all");
    }
    args.extend([source, destination.as_str()]);
    skopeo(&args);
}

/// `skopeo inspect` (parsed, not raw) agrees with the image on digest, platform and layers.
fn assert_inspect_describes(reference: &str, image: &Image) {
    let inspected = skopeo_json(&["inspect", "--tls-verify=false", reference]);
    assert_eq!(
        inspected["Digest"],
        image.manifest.digest.as_str(),
        "skopeo inspect: {inspected}"
    );
    assert_eq!(
        inspected["Architecture"], image.platform.architecture,
        "skopeo inspect: {inspected}"
    );
    assert_eq!(inspected["Os"], image.platform.os, "skopeo inspect: {inspected}");
    assert_eq!(inspected["Layers"], layer_digests(image), "skopeo inspect: {inspected}");
    assert_eq!(image.manifest.media_type, MANIFEST);
}

fn layer_digests(image: &Image) -> Value {
    image.layers.iter().map(|l| Value::from(l.digest.as_str())).collect()
}

/// `oci:<dir>:<tag>`
fn oci(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

/// The exact manifest bytes skopeo reads for `reference`.
fn inspect_raw(reference: &str) -> Vec<u8> {
    skopeo(&["inspect", "--raw", "--tls-verify=false", reference]).stdout
}

/// The tags skopeo lists for repository `repo` (`docker://host/name`), sorted.
fn list_tags(repo: &str) -> Vec<String> {
    let listed = skopeo_json(&["list-tags", "--tls-verify=false", repo]);
    let mut tags: Vec<String> = serde_json::from_value(listed["Tags"].clone()).expect("list-tags prints Tags");
    tags.sort();
    tags
}

fn skopeo_json(args: &[&str]) -> Value {
    let output = skopeo(args);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "skopeo {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Runs skopeo and asserts that it succeeded.
fn skopeo(args: &[&str]) -> Output {
    let output = skopeo_output(args);
    assert!(
        output.status.success(),
        "skopeo {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The status of a plain GET of `url`.
fn http_status(url: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        http_client()
            .get(url)
            .send()
            .await
            .expect("GET is answered")
            .status()
            .as_u16()
    })
}

/// Runs `step`, printing how long it took.
fn timed<T>(step: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    eprintln!("skopeo interop: {step} took {:.2?}", started.elapsed());
    result
}
