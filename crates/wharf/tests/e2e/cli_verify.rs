//! `wharf verify REF --key PUB.pem`: signatures attached as referrers by `wharf sign`
//! and under cosign's tag scheme by `wharf sign --tag-scheme` verify, and say who signed
//! what; another key, or no signature, is exit code 5. On wharf and CNCF Distribution
//! (no referrers API: `wharf sign` writes cosign's tag as well there).

use crate::cli_harness::{Cli, Registry};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

#[test]
fn verify_on_wharf() {
    verify_scenario(&Registry::wharf());
}

#[test]
fn verify_on_distribution() {
    verify_scenario(&Registry::distribution());
}

/// A key pair written as `NAME.pem` (private) and `NAME.pub` (public).
fn key_pair(cli: &Cli, name: &str) -> (String, String) {
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    (
        cli.file(&format!("{name}.pem"), private.as_bytes()),
        cli.file(&format!("{name}.pub"), public.as_bytes()),
    )
}

fn verify_scenario(registry: &Registry) {
    let cli = Cli::new();
    let (alice, alice_pub) = key_pair(&cli, "alice");
    let (bob, bob_pub) = key_pair(&cli, "bob");
    let repo = registry.at("cli/verified");
    let image = format!("{repo}:v1");
    let file = cli.file("app.bin", b"an image, more or less");
    let digest = cli.json(&["push", &image, &file])["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // Unsigned: exit 5, saying so.
    let line = cli.fails(&["verify", &image, "--key", &alice_pub], 5);
    assert!(line.contains("no signatures"), "{line}");

    // Signed as a referrer: alice's key verifies it, bob's does not. Distribution has
    // no referrers API, so the signature is also written under cosign's tag there.
    let signed = cli.json(&["sign", &image, "--key", &alice]);
    let sig_tag = format!("{repo}:{}.sig", digest.replacen(':', "-", 1));
    let checked = cli.json(&["verify", &image, "--key", &alice_pub]);
    let sources = |checked: &serde_json::Value| -> Vec<(String, bool)> {
        checked["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["source"].as_str().unwrap().to_string(), s["valid"].as_bool().unwrap()))
            .collect()
    };
    let pair = |source: &str, valid: bool| (source.to_string(), valid);
    if registry.is_wharf() {
        assert_eq!(signed["tagScheme"], serde_json::Value::Null, "{signed}");
        assert_eq!(sources(&checked), [pair("referrer", true)]);
    } else {
        assert_eq!(
            signed["tagScheme"]["tag"],
            format!("{}.sig", digest.replacen(':', "-", 1))
        );
        assert_eq!(
            cli.json(&["inspect", &sig_tag])["digest"],
            signed["tagScheme"]["digest"]
        );
        assert_eq!(sources(&checked), [pair("referrer", true), pair("tag", true)]);
    }
    assert_eq!(checked["subject"], format!("{repo}@{digest}"));
    assert_eq!(checked["signatures"][0]["identity"], repo.as_str());
    let alice_valid = if registry.is_wharf() { 1 } else { 2 };
    assert_eq!(checked["valid"], alice_valid);
    let text = cli.ok(&["verify", &image, "--key", &alice_pub]);
    assert!(
        text.contains(&format!("{alice_valid} valid signature")) && text.contains(&repo),
        "{text}"
    );
    let line = cli.fails(&["verify", &image, "--key", &bob_pub], 5);
    assert!(line.contains("none verifies"), "{line}");

    // Cosign's tag scheme: bob signs there; both keys now find a valid signature.
    let by_tag = cli.json(&["sign", &image, "--key", &bob, "--tag-scheme"]);
    assert_eq!(
        cli.json(&["inspect", &sig_tag])["digest"],
        by_tag["signature"],
        "the signature is tagged sha256-<hex>.sig"
    );
    let checked = cli.json(&["verify", &image, "--key", &bob_pub]);
    assert_eq!(checked["valid"], 1);
    if registry.is_wharf() {
        assert_eq!(sources(&checked), [pair("referrer", false), pair("tag", true)]);
    } else {
        let expected = [pair("referrer", false), pair("tag", false), pair("tag", true)];
        assert_eq!(sources(&checked), expected);
    }
    // A second signature under the tag is added beside the first (on Distribution,
    // alice's was there already: signing the same payload again adds nothing).
    cli.ok(&["sign", &image, "--key", &alice, "--tag-scheme"]);
    let raw: serde_json::Value = serde_json::from_str(&cli.ok(&["inspect", &sig_tag, "--raw"])).unwrap();
    assert_eq!(raw["layers"].as_array().unwrap().len(), 2);
    assert_eq!(cli.json(&["verify", &image, "--key", &alice_pub])["valid"], 2);

    // A key that is not a public key is a usage error; an unknown image is not found.
    cli.fails(&["verify", &image, "--key", &file], 2);
    cli.fails(&["verify", &format!("{repo}:nope"), "--key", &alice_pub], 3);
}
