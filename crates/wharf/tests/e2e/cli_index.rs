//! `wharf index create`: a multi-platform image from manifests already in the
//! repository, their platforms read from the images' configs or given, pushed as an OCI
//! index (or a Docker manifest list), shown by `inspect`, and chosen from by
//! `pull --platform`; against wharf and CNCF Distribution.

use crate::cli_copy::push_image;
use crate::cli_harness::{runtime, Cli, Registry};
use wharf_client::{Client, ClientConfig, Credentials, Repository};

#[test]
fn index_create_on_wharf() {
    index_scenario(&Registry::wharf());
}

#[test]
fn index_create_on_distribution() {
    index_scenario(&Registry::distribution());
}

fn index_scenario(registry: &Registry) {
    let repo = Repository::new(registry.host(), "multi/app".parse().unwrap());
    let (amd, arm) = runtime().block_on(async {
        let client = Client::new(ClientConfig::default(), Credentials::new()).unwrap();
        (
            push_image(&client, &repo, 10, "linux/amd64").await,
            push_image(&client, &repo, 20, "linux/arm64").await,
        )
    });
    let cli = Cli::new();
    let app = |suffix: &str| format!("{repo}{suffix}");
    cli.ok(&["tag", &app(&format!("@{}", amd.digest)), "amd"]);

    // Platforms read from each image's config; children by tag, by reference, by digest.
    let made = cli.json(&[
        "index",
        "create",
        &app(":1"),
        "--manifest",
        "amd",
        "--manifest",
        &app(&format!("@{}", arm.digest)),
        "--annotation",
        "org.opencontainers.image.version=1",
    ]);
    assert_eq!(made["mediaType"], "application/vnd.oci.image.index.v1+json");
    let shown = cli.json(&["inspect", &app(":1")]);
    assert_eq!(shown["digest"], made["digest"]);
    assert_eq!(shown["mediaType"], "application/vnd.oci.image.index.v1+json");
    let children = shown["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    assert_eq!(children[0]["digest"], amd.digest.to_string());
    assert_eq!(children[0]["platform"]["os"], "linux");
    assert_eq!(children[0]["platform"]["architecture"], "amd64");
    assert_eq!(children[1]["digest"], arm.digest.to_string());
    assert_eq!(children[1]["platform"]["architecture"], "arm64");
    let raw: serde_json::Value = serde_json::from_str(&cli.ok(&["inspect", &app(":1"), "--raw"])).unwrap();
    assert_eq!(raw["annotations"]["org.opencontainers.image.version"], "1");

    // pull --platform picks the child made for it.
    let out = cli.path("arm");
    cli.ok(&[
        "pull",
        &app(":1"),
        "--platform",
        "linux/arm64",
        "-o",
        out.to_str().unwrap(),
    ]);
    let pulled: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let arm_manifest: serde_json::Value = serde_json::from_slice(&arm.bytes).unwrap();
    let arm_layer = arm_manifest["layers"][0]["digest"].as_str().unwrap().replace(':', "-");
    assert_eq!(pulled, [arm_layer]);

    // Platforms given, in the order of the manifests (a variant the config lacks).
    let given = cli.json(&[
        "index",
        "create",
        &app(":2"),
        "-m",
        &amd.digest.to_string(),
        "-m",
        &arm.digest.to_string(),
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64/v8",
    ]);
    assert_eq!(given["manifests"][1]["platform"]["variant"], "v8");

    // Mistakes: platforms not one per manifest, a child of another repository, an
    // unknown child, a Docker list of OCI manifests, an index by digest.
    cli.fails(
        &[
            "index",
            "create",
            &app(":3"),
            "-m",
            "amd",
            "-m",
            "x",
            "--platform",
            "linux/amd64",
        ],
        2,
    );
    let line = cli.fails(&["index", "create", &app(":3"), "-m", &registry.at("other/app:1")], 2);
    assert!(line.contains("copy"), "{line}");
    cli.fails(&["index", "create", &app(":3"), "-m", "no-such-tag"], 3);
    let line = cli.fails(&["index", "create", &app(":3"), "-m", "amd", "--docker"], 1);
    assert!(line.contains("Docker"), "{line}");
    cli.fails(&["index", "create", &app(&format!("@{}", amd.digest)), "-m", "amd"], 2);
    cli.fails(&["inspect", &app(":3")], 3);
}
