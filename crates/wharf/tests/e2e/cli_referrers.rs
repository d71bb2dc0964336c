//! `wharf attach` and `wharf referrers`, against wharf (referrers API) and CNCF
//! Distribution 2.8 (none: the referrers tag schema is what the client falls back to).

use crate::cli_harness::{digests, Cli, Registry};
use wharf_client::referrers::referrers_tag;

#[test]
fn attach_and_list_referrers_against_wharf() {
    attach_and_list(&Registry::wharf());
}

#[test]
fn attach_and_list_referrers_against_distribution() {
    attach_and_list(&Registry::distribution());
}

fn attach_and_list(registry: &Registry) {
    let cli = Cli::new();
    let app = cli.file("app.txt", b"the subject\n");
    let sig = cli.file("sig.json", br#"{"signed":true}"#);
    let sbom = cli.file("sbom.spdx.json", br#"{"spdxVersion":"SPDX-2.3"}"#);
    let repo = registry.at("cli/signed");
    let subject = format!("{repo}:v1");
    let digest = cli.json(&["push", &subject, &app])["digest"]
        .as_str()
        .unwrap()
        .to_string();

    let none = cli.json(&["referrers", &subject]);
    assert_eq!(none["referrers"], serde_json::json!([]));
    assert!(cli.ok(&["referrers", &subject]).starts_with("No referrers"));

    let signature = cli.json(&[
        "attach",
        &subject,
        "--artifact-type",
        "application/vnd.example.signature",
        &format!("{sig}:application/json"),
        "--annotation",
        "org.example.signer=ci",
    ]);
    assert_eq!(signature["subject"]["digest"], digest.as_str());
    let sbom_text = cli.ok(&[
        "attach",
        &format!("{repo}@{digest}"),
        "--artifact-type",
        "application/spdx+json",
        &sbom,
    ]);
    assert!(sbom_text.contains("Attached application/spdx+json"), "{sbom_text}");
    let note = cli.json(&[
        "attach",
        &subject,
        "--artifact-type",
        "application/vnd.example.note",
        "-a",
        "text=hello",
    ]);

    // All of them, by tag or digest; one type with --artifact-type.
    let all = cli.json(&["referrers", &subject]);
    assert_eq!(all["subject"]["digest"], digest.as_str());
    let mut listed = digests(&all["referrers"]);
    listed.sort();
    let mut expected: Vec<String> = [&signature, &note]
        .iter()
        .map(|a| a["digest"].as_str().unwrap().to_string())
        .collect();
    expected.push(
        all["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["artifactType"] == "application/spdx+json")
            .expect("the SBOM is listed")["digest"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(
        digests(&cli.json(&["referrers", &format!("{repo}@{digest}")])["referrers"]).len(),
        3
    );

    let signatures = cli.json(&[
        "referrers",
        &subject,
        "--artifact-type",
        "application/vnd.example.signature",
    ]);
    assert_eq!(
        digests(&signatures["referrers"]),
        [signature["digest"].as_str().unwrap()]
    );
    assert_eq!(signatures["referrers"][0]["annotations"]["org.example.signer"], "ci");
    let human = cli.ok(&["referrers", &subject, "--artifact-type", "application/vnd.example.note"]);
    assert!(
        human.contains("text=hello") && human.contains(note["digest"].as_str().unwrap()),
        "{human}"
    );
    let nothing = cli.json(&["referrers", &subject, "--artifact-type", "application/x-none"]);
    assert_eq!(nothing["referrers"], serde_json::json!([]));

    // The signature's own layer pulls like any artifact's.
    let out = cli.path("sig-out");
    cli.ok(&[
        "pull",
        &format!("{repo}@{}", signature["digest"].as_str().unwrap()),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(out.join("sig.json")).unwrap(), br#"{"signed":true}"#);

    // Where the registry has no referrers API, the list lives under the referrers tag.
    let fallback = referrers_tag(&digest.parse().unwrap()).to_string();
    let tags = cli.json(&["tags", &repo])["tags"].clone();
    let has_fallback_tag = tags.as_array().unwrap().iter().any(|t| t == fallback.as_str());
    assert_eq!(has_fallback_tag, !registry.is_wharf(), "tags: {tags}");

    cli.fails(&["referrers", &format!("{repo}:missing")], 3);
    cli.fails(
        &["attach", &format!("{repo}:missing"), "--artifact-type", "a/b", &sig],
        3,
    );
    cli.fails(&["attach", &subject, "--artifact-type", "a/b"], 2);
}
