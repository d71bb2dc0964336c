//! `wharf copy` and skopeo read each other's work: what wharf copies into wharf, skopeo
//! copies out to an OCI layout with the same digests, and what skopeo pushes, wharf
//! copies out to a layout with the same digests (an image and a two-platform index).

use crate::cli_harness::{Cli, Registry};
use crate::harness::{expect_success, skopeo_output};
use crate::oci_layout::{assert_holds, tagged, Image, OciLayout, Platform, LAYER};
use std::path::Path;

fn write_layout(root: &Path) -> (Image, Image, crate::oci_layout::Descriptor) {
    let mut layout = OciLayout::create(root);
    let amd_layers = [
        layout.add_generated_blob(LAYER, 41, 300_000),
        layout.add_generated_blob(LAYER, 42, 5_000),
    ];
    let amd = layout.add_image(
        Platform {
            os: "linux",
            architecture: "amd64",
        },
        &amd_layers,
    );
    let arm_layers = [layout.add_generated_blob(LAYER, 43, 100_000)];
    let arm = layout.add_image(
        Platform {
            os: "linux",
            architecture: "arm64",
        },
        &arm_layers,
    );
    let (index, _) = layout.add_index(&[&amd, &arm]);
    layout.tag(&amd.manifest, "1");
    layout.tag(&index.clone(), "multi");
    layout.finish();
    (amd, arm, index)
}

fn skopeo(args: &[&str]) {
    expect_success("skopeo", args, skopeo_output(args));
}

#[test]
fn wharf_copy_and_skopeo_read_each_others_images() {
    let registry = Registry::wharf();
    let cli = Cli::new();
    let source = cli.path("source");
    let (amd, arm, index) = write_layout(&source);
    let oci = |dir: &Path, tag: &str| format!("oci:{}:{tag}", dir.display());

    // wharf copy in; skopeo copy out.
    let copied = cli.json(&["copy", &oci(&source, "1"), &registry.at("interop/cli:1")]);
    assert_eq!(copied["digest"], amd.manifest.digest.as_str());
    cli.json(&[
        "copy",
        "--all-platforms",
        &oci(&source, "multi"),
        &registry.at("interop/cli:multi"),
    ]);
    let out = cli.path("skopeo-out");
    for tag in ["1", "multi"] {
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{}", registry.at(&format!("interop/cli:{tag}"))),
            &oci(&out, tag),
        ]);
    }
    assert_eq!(tagged(&out, "1"), amd.manifest);
    assert_eq!(tagged(&out, "multi"), index);
    amd.blobs().chain(arm.blobs()).for_each(|b| assert_holds(&out, b));

    // skopeo copy in; wharf copy out.
    for tag in ["1", "multi"] {
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &oci(&source, tag),
            &format!("docker://{}", registry.at(&format!("interop/skopeo:{tag}"))),
        ]);
    }
    let back = cli.path("wharf-out");
    let one = cli.json(&[
        "copy",
        &registry.at("interop/skopeo:1"),
        &format!("oci:{}", back.display()),
    ]);
    assert_eq!(one["digest"], amd.manifest.digest.as_str());
    let all = cli.json(&[
        "copy",
        "--all-platforms",
        &registry.at("interop/skopeo:multi"),
        &format!("oci:{}", back.display()),
    ]);
    assert_eq!(all["digest"], index.digest.as_str());
    assert_eq!(tagged(&back, "1"), amd.manifest);
    assert_eq!(tagged(&back, "multi"), index);
    amd.blobs().chain(arm.blobs()).for_each(|b| assert_holds(&back, b));
    // skopeo reads wharf's layout too.
    let inspected = skopeo_output(&["inspect", "--raw", &oci(&back, "1")]);
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert_eq!(inspected.stdout, amd.manifest_bytes);
}
