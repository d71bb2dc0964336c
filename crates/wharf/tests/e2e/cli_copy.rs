//! `wharf copy` between repositories of one registry, from wharf to CNCF Distribution,
//! and to and from OCI layout directories (`oci:DIR[:TAG]`), always keeping digests;
//! `--all-platforms` and `--platform` on a two-platform index built with the library.

use crate::cli_harness::{digests, runtime, Cli, Registry};
use crate::harness::content;
use crate::oci_layout::{assert_holds, tagged, Descriptor as LayoutDescriptor};
use serde_json::Value;
use std::sync::Arc;
use wharf_client::{
    BlobSource, BytesSource, Client, ClientConfig, Credentials, Descriptor, ImageIndex, ImageManifest, Manifest,
    Platform, Repository,
};

#[test]
fn copies_keep_digests_between_registries_and_layouts() {
    let wharf = Registry::wharf();
    let distribution = Registry::distribution();
    let cli = Cli::new();
    let a = cli.file("a.txt", b"first file\n");
    let b = cli.file("b.bin", &content(3, 0..400_000));
    let src = wharf.at("team/src:v1");
    let digest = cli.json(&["push", &src, &a, &b])["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // Across repositories of one registry: the blobs are mounted, not sent again.
    let within = cli.json(&["copy", &src, &wharf.at("team/dst")]);
    assert_eq!(within["digest"], digest.as_str());
    assert_eq!(
        within["destination"],
        wharf.at("team/dst:v1").as_str(),
        "the tag is kept"
    );
    assert_eq!(within["bytesCopied"], 0, "mounted: {within}");
    assert_eq!(inspect_digest(&cli, &wharf.at("team/dst:v1")), digest);

    // wharf to Distribution, under another tag; the files pull back unchanged.
    let across = cli.json(&["copy", &src, &distribution.at("mirror/app:copied")]);
    assert_eq!(across["digest"], digest.as_str());
    assert_eq!(across["blobsCopied"], 3, "config and two layers: {across}");
    assert_eq!(inspect_digest(&cli, &distribution.at("mirror/app:copied")), digest);
    let out = cli.path("from-distribution");
    cli.ok(&[
        "pull",
        &distribution.at("mirror/app:copied"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(out.join("b.bin")).unwrap(), std::fs::read(&b).unwrap());

    // And back from Distribution into wharf.
    let home = cli.json(&["copy", &distribution.at("mirror/app:copied"), &wharf.at("team/home")]);
    assert_eq!(home["digest"], digest.as_str());
    assert_eq!(inspect_digest(&cli, &wharf.at("team/home:copied")), digest);

    // To an OCI layout (created, tagged like the source) and back out of it.
    let layout = cli.path("layout");
    let text = cli.ok(&["copy", &src, &format!("oci:{}", layout.display())]);
    assert!(text.contains(&digest), "{text}");
    let entry = tagged(&layout, "v1");
    assert_eq!(entry.digest, digest);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap()).unwrap();
    for blob in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap()) {
        assert_holds(&layout, &LayoutDescriptor::from_json(blob));
    }
    let back = cli.json(&[
        "copy",
        &format!("oci:{}:v1", layout.display()),
        &distribution.at("from/layout:v9"),
    ]);
    assert_eq!(back["digest"], digest.as_str());
    assert_eq!(inspect_digest(&cli, &distribution.at("from/layout:v9")), digest);
    // A second copy finds everything there already.
    let again = cli.json(&[
        "copy",
        &format!("oci:{}:v1", layout.display()),
        &distribution.at("from/layout:v9"),
    ]);
    assert_eq!(again["blobsCopied"], 0);
    assert_eq!(again["blobsSkipped"], 3);

    // By digest, into a layout tag of its own.
    let pinned = format!("{}@{digest}", wharf.at("team/src"));
    let by_digest = cli.json(&["copy", &pinned, &format!("oci:{}:pinned", layout.display())]);
    assert_eq!(by_digest["digest"], digest.as_str());
    assert_eq!(tagged(&layout, "pinned").digest, digest);

    // What is not there, is not found; a destination digest is a usage error.
    cli.fails(&["copy", &wharf.at("team/src:nope"), &wharf.at("team/x")], 3);
    cli.fails(
        &["copy", &format!("oci:{}:nope", layout.display()), &wharf.at("team/x")],
        3,
    );
    cli.fails(
        &[
            "copy",
            &format!("oci:{}", cli.path("no-layout").display()),
            &wharf.at("team/x"),
        ],
        3,
    );
    cli.fails(&["copy", &src, &pinned], 2);
}

#[test]
fn indexes_copy_whole_or_one_platform() {
    let wharf = Registry::wharf();
    let distribution = Registry::distribution();
    let cli = Cli::new();
    let repo = Repository::new(wharf.host(), "multi/app".parse().unwrap());
    let (index, amd, arm) = runtime().block_on(push_two_platform_index(&repo, "multi"));
    let src = wharf.at("multi/app:multi");

    // Every platform, and the index itself, keep their digests.
    let all = cli.json(&["copy", "--all-platforms", &src, &distribution.at("multi/app")]);
    assert_eq!(all["digest"], index.digest.to_string().as_str());
    assert_eq!(all["manifests"], 3);
    let inspected = cli.json(&["inspect", &distribution.at("multi/app:multi")]);
    assert_eq!(inspected["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(inspected["digest"], index.digest.to_string().as_str());
    assert_eq!(
        digests(&inspected["manifests"]),
        [amd.digest.to_string(), arm.digest.to_string()]
    );
    let platforms: Vec<&str> = inspected["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    assert!(inspected["manifests"][1]["totalSize"].as_u64().unwrap() > 70_000);
    let human = cli.ok(&["inspect", &distribution.at("multi/app:multi")]);
    assert!(
        human.contains("linux/arm64/v8") && human.contains("linux/amd64"),
        "{human}"
    );

    let layout = cli.path("multi-layout");
    let to_layout = cli.json(&["copy", "--all-platforms", &src, &format!("oci:{}", layout.display())]);
    assert_eq!(to_layout["digest"], index.digest.to_string().as_str());
    let entry = tagged(&layout, "multi");
    assert_eq!(entry.digest, index.digest.to_string());
    assert_eq!(entry.media_type, "application/vnd.oci.image.index.v1+json");
    for child in [&amd, &arm] {
        assert_holds(
            &layout,
            &LayoutDescriptor {
                media_type: child.media_type.clone(),
                digest: child.digest.to_string(),
                size: child.bytes.len() as u64,
            },
        );
    }
    let from_layout = cli.json(&[
        "copy",
        "--all-platforms",
        &format!("oci:{}:multi", layout.display()),
        &wharf.at("multi/back"),
    ]);
    assert_eq!(from_layout["digest"], index.digest.to_string().as_str());

    // One platform: that image alone, under the index's tag.
    let one = cli.json(&["copy", "--platform", "linux/arm64", &src, &wharf.at("single/app")]);
    assert_eq!(one["digest"], arm.digest.to_string().as_str());
    assert_eq!(
        inspect_digest(&cli, &wharf.at("single/app:multi")),
        arm.digest.to_string()
    );
    let line = cli.fails(
        &["copy", "--platform", "windows/amd64", &src, &wharf.at("single/win")],
        3,
    );
    assert!(
        line.contains("linux/amd64") && line.contains("linux/arm64"),
        "names what there is: {line}"
    );
    cli.fails(&["copy", "--platform", "linux", &src, &wharf.at("single/x")], 2);

    // Pull picks a platform from an index too.
    let out = cli.path("arm-files");
    let pulled = cli.json(&["pull", "--platform", "linux/arm64", &src, "-o", out.to_str().unwrap()]);
    assert_eq!(pulled["digest"], arm.digest.to_string().as_str());
    assert_eq!(pulled["platform"], "linux/arm64/v8");
    let layer = &pulled["files"][0];
    let name = format!("sha256-{}", &layer["digest"].as_str().unwrap()[7..]);
    assert_eq!(std::fs::read(out.join(name)).unwrap(), layer_bytes(20));
}

/// The digest `wharf inspect --json` reports for `reference`.
fn inspect_digest(cli: &Cli, reference: &str) -> String {
    cli.json(&["inspect", reference])["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn layer_bytes(seed: u64) -> Vec<u8> {
    content(seed, 0..70_000 + seed)
}

/// An image of one untitled layer for `platform`, pushed by digest.
pub async fn push_image(client: &Client, repo: &Repository, seed: u64, platform: &str) -> Manifest {
    let p = Platform::parse(platform).unwrap();
    let config = format!(
        r#"{{"architecture":"{}","os":"{}","rootfs":{{"type":"layers","diff_ids":[]}}}}"#,
        p.architecture, p.os
    );
    let layer = layer_bytes(seed);
    let image = ImageManifest::new(
        Descriptor::of("application/vnd.oci.image.config.v1+json", config.as_bytes()),
        vec![Descriptor::of("application/vnd.oci.image.layer.v1.tar", &layer)],
    );
    let manifest = Manifest::new("application/vnd.oci.image.manifest.v1+json", image.to_bytes());
    let blobs: Vec<Arc<dyn BlobSource>> = vec![
        Arc::new(BytesSource::new(config.into_bytes())),
        Arc::new(BytesSource::new(layer)),
    ];
    client.push_image(repo, &manifest, blobs, &[]).await.unwrap();
    manifest
}

/// Two images (linux/amd64, linux/arm64/v8) and an index over them tagged `tag`.
pub async fn push_two_platform_index(repo: &Repository, tag: &str) -> (Manifest, Manifest, Manifest) {
    let client = Client::new(ClientConfig::default(), Credentials::new()).unwrap();
    let amd = push_image(&client, repo, 10, "linux/amd64").await;
    let arm = push_image(&client, repo, 20, "linux/arm64/v8").await;
    let entry = |m: &Manifest, platform: &str| {
        let mut d = m.descriptor();
        d.platform = Platform::parse(platform);
        d
    };
    let index = ImageIndex::new(vec![entry(&amd, "linux/amd64"), entry(&arm, "linux/arm64/v8")]);
    let index = Manifest::new("application/vnd.oci.image.index.v1+json", index.to_bytes());
    client.push_index(repo, &index, &[tag.parse().unwrap()]).await.unwrap();
    (index, amd, arm)
}
