//! `wharf sign`: a cosign-style signature a verifier can check with the public key,
//! against wharf (referrers API) and Distribution (tag-schema fallback).

use crate::cli_harness::{Cli, Registry};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use wharf_client::signature::{verify_payload, SIGNATURE_ANNOTATION, SIGNATURE_ARTIFACT_TYPE};

#[test]
fn signatures_verify_with_the_public_key_on_wharf() {
    sign_and_verify(&Registry::wharf());
}

#[test]
fn signatures_verify_with_the_public_key_on_distribution() {
    sign_and_verify(&Registry::distribution());
}

fn sign_and_verify(registry: &Registry) {
    let cli = Cli::new();
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let key_file = cli.file("key.pem", private.as_bytes());
    let image = format!("{}:v1", registry.at("cli/signed-app"));
    let app = cli.file("app.bin", b"an image, more or less");
    let digest = cli.json(&["push", &image, &app])["digest"]
        .as_str()
        .unwrap()
        .to_string();

    let signed = cli.json(&["sign", &image, "--key", &key_file]);
    assert_eq!(signed["subject"], format!("{}@{digest}", registry.at("cli/signed-app")));
    let sigs = cli.json(&["referrers", &image, "--artifact-type", SIGNATURE_ARTIFACT_TYPE]);
    let list = sigs["referrers"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], signed["signature"]);

    // The verifier's path, through the CLI: the signature manifest, its payload layer.
    let sig_ref = format!(
        "{}@{}",
        registry.at("cli/signed-app"),
        signed["signature"].as_str().unwrap()
    );
    let manifest: serde_json::Value = serde_json::from_str(&cli.ok(&["inspect", &sig_ref, "--raw"])).unwrap();
    let layer = &manifest["layers"][0];
    let b64 = layer["annotations"][SIGNATURE_ANNOTATION].as_str().unwrap();
    let out = cli.path("payload");
    std::fs::create_dir_all(&out).unwrap();
    cli.ok(&["pull", &sig_ref, "-o", out.to_str().unwrap()]);
    let file = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let payload = std::fs::read(file).unwrap();
    let text = String::from_utf8(payload.clone()).unwrap();
    assert!(text.contains(&digest), "{text}");
    verify_payload(&public, &payload, b64).unwrap();
    assert!(verify_payload(&public, b"tampered", b64).is_err());

    let missing = cli.fails(
        &[
            "sign",
            &format!("{}:nope", registry.at("cli/signed-app")),
            "--key",
            &key_file,
        ],
        3,
    );
    assert!(missing.contains("no such manifest"), "{missing}");
    let bad_key = cli.file(
        "bad.pem",
        b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    );
    cli.fails(&["sign", &image, "--key", &bad_key], 2);
}
