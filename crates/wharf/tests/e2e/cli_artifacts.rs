//! `wharf push`, `pull`, `tag`, `tags`, `inspect` and `delete` on an artifact, against
//! wharf and against CNCF Distribution: files come back byte for byte, every `--json`
//! output is one JSON document, and what is deleted is then not found (exit code 3).

use crate::cli_harness::{digest_of, digests, Cli, Registry};
use crate::harness::{content, sha256_of};

#[test]
fn artifact_lifecycle_against_wharf() {
    artifact_lifecycle(&Registry::wharf());
}

#[test]
fn artifact_lifecycle_against_distribution() {
    artifact_lifecycle(&Registry::distribution());
}

fn artifact_lifecycle(registry: &Registry) {
    let cli = Cli::new();
    let notes = cli.file("in/notes.txt", b"release notes\n");
    let data = cli.file("in/data.bin", &content(7, 0..1_500_000));
    let spaced = cli.file("in/with space.json", br#"{"k":"v"}"#);
    let repo = registry.at("cli/artifact");
    let v1 = format!("{repo}:v1");

    // Push: one layer per file, titled with its name, typed as asked.
    let pushed = cli.json(&[
        "push",
        &v1,
        &notes,
        &format!("{data}:application/vnd.example.data"),
        &format!("{spaced}:application/json"),
        "--artifact-type",
        "application/vnd.example.bundle",
        "--annotation",
        "org.example.owner=cli-test",
    ]);
    let digest = pushed["digest"].as_str().unwrap().to_string();
    assert_eq!(pushed["reference"], v1.as_str());
    assert_eq!(pushed["artifactType"], "application/vnd.example.bundle");
    let layers = pushed["layers"].as_array().unwrap();
    let titles: Vec<&str> = layers.iter().map(|l| l["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["notes.txt", "data.bin", "with space.json"]);
    let types: Vec<&str> = layers.iter().map(|l| l["mediaType"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.example.data",
            "application/json"
        ]
    );
    assert_eq!(layers[1]["digest"], digest_of(std::path::Path::new(&data)).as_str());

    // Human output names the digest.
    let again = cli.ok(&[
        "push",
        &format!("{repo}:v1-again"),
        &notes,
        &format!("{data}:application/vnd.example.data"),
        &format!("{spaced}:application/json"),
        "--artifact-type",
        "application/vnd.example.bundle",
        "-a",
        "org.example.owner=cli-test",
    ]);
    assert!(
        again.contains(&format!("Digest: {digest}")),
        "same files, same manifest:\n{again}"
    );

    // Chunked pushes (into another repository, so the blobs are really sent) make the
    // same manifest.
    let chunked = cli.json(&[
        "push",
        &registry.at("cli/chunked:v1"),
        &notes,
        &format!("{data}:application/vnd.example.data"),
        &format!("{spaced}:application/json"),
        "--artifact-type",
        "application/vnd.example.bundle",
        "-a",
        "org.example.owner=cli-test",
        "--chunk-size",
        "256k",
    ]);
    assert_eq!(chunked["digest"], digest.as_str());

    // Pull: the same bytes under the same names.
    let out = cli.path("out");
    let pulled = cli.json(&["pull", &v1, "-o", out.to_str().unwrap()]);
    assert_eq!(pulled["digest"], digest.as_str());
    assert_eq!(pulled["files"].as_array().unwrap().len(), 3);
    for (name, original) in [("notes.txt", &notes), ("data.bin", &data), ("with space.json", &spaced)] {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            std::fs::read(original).unwrap(),
            "{name} after pull"
        );
    }
    let chunked_out = cli.path("chunked-out");
    let text = cli.ok(&[
        "pull",
        &registry.at("cli/chunked:v1"),
        "-o",
        chunked_out.to_str().unwrap(),
    ]);
    assert!(text.contains("data.bin"), "{text}");
    assert_eq!(
        digest_of(&chunked_out.join("data.bin")),
        digest_of(std::path::Path::new(&data))
    );

    // Tag, then list the tags page by page.
    let tagged = cli.json(&["tag", &v1, "v2", &format!("{repo}:v3")]);
    assert_eq!(tagged["digest"], digest.as_str());
    assert_eq!(tagged["tags"], serde_json::json!(["v2", "v3"]));
    let mut tags: Vec<String> = cli.json(&["tags", &repo, "--page-size", "2"])["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v1-again", "v2", "v3"]);
    cli.fails(&["tags", &registry.at("cli/no-such-repository")], 3);
    let listed = cli.ok(&["tags", &repo]);
    assert_eq!(listed.lines().count(), 4, "one tag a line:\n{listed}");

    // Inspect: for people, for scripts, and the exact bytes.
    let human = cli.ok(&["inspect", &format!("{repo}:v2")]);
    for expected in [
        "application/vnd.oci.image.manifest.v1+json",
        digest.as_str(),
        "application/vnd.example.bundle",
        "notes.txt",
        "application/vnd.example.data",
        "org.example.owner=cli-test",
    ] {
        assert!(human.contains(expected), "inspect shows {expected}:\n{human}");
    }
    let inspected = cli.json(&["inspect", &format!("{repo}:v3")]);
    assert_eq!(inspected["digest"], digest.as_str());
    assert_eq!(inspected["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(inspected["artifactType"], "application/vnd.example.bundle");
    assert_eq!(inspected["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(inspected["annotations"]["org.example.owner"], "cli-test");
    assert_eq!(digests(&inspected["layers"]), digests(&pushed["layers"]));
    let layer_bytes: u64 = inspected["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    assert_eq!(
        inspected["totalSize"].as_u64().unwrap(),
        inspected["size"].as_u64().unwrap() + 2 + layer_bytes
    );
    let raw = cli.run(&["inspect", "--raw", &format!("{repo}@{digest}")]);
    assert!(raw.status.success());
    assert_eq!(sha256_of(&raw.stdout), digest, "--raw prints the exact manifest");
    assert_eq!(raw.stdout.len() as u64, inspected["size"].as_u64().unwrap());

    // Delete a tag only, then the manifest by tag: then nothing is found.
    if registry.is_wharf() {
        let deleted = cli.json(&["delete", &format!("{repo}:v3"), "--tag-only"]);
        assert_eq!(deleted["deleted"], "tag");
        cli.ok(&["inspect", &format!("{repo}@{digest}")]);
        cli.fails(&["inspect", &format!("{repo}:v3")], 3);
    } else {
        // Distribution 2.8 has no tag deletion: its refusal is a plain failure.
        let line = cli.fails(&["delete", &format!("{repo}:v3"), "--tag-only"], 1);
        assert!(
            line.contains("UNSUPPORTED") || line.contains("405") || line.contains("400"),
            "{line}"
        );
    }
    let deleted = cli.json(&["delete", &format!("{repo}:v2")]);
    assert_eq!(deleted["deleted"], "manifest");
    assert_eq!(deleted["digest"], digest.as_str());
    let line = cli.fails(&["inspect", &format!("{repo}@{digest}")], 3);
    assert!(line.contains("404"), "{line}");
    cli.fails(&["pull", &format!("{repo}@{digest}"), "-o", out.to_str().unwrap()], 3);
    cli.fails(&["delete", &format!("{repo}@{digest}")], 3);
    cli.fails(&["delete", &format!("{repo}:never-was")], 3);

    // Blobs go by digest.
    let data_digest = pushed["layers"][1]["digest"].as_str().unwrap();
    let blob = format!("{}@{data_digest}", registry.at("cli/chunked"));
    assert_eq!(cli.json(&["delete", "--blob", &blob])["deleted"], "blob");
    cli.fails(&["delete", "--blob", &blob], 3);
    cli.fails(
        &[
            "pull",
            &registry.at("cli/chunked:v1"),
            "-o",
            cli.path("gone").to_str().unwrap(),
        ],
        3,
    );
}
