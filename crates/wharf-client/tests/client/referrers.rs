//! Referrers and signatures against wharf (which has the referrers API).

use crate::harness::*;
use crate::images::push_small_image;
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_client::image::artifact_manifest;
use wharf_client::signature::{sign_payload, simple_signing_payload, verify_payload, SIGNATURE_ANNOTATION};
use wharf_client::{BlobSource, BytesSource, Descriptor, ImageManifest, Reference};

#[tokio::test]
async fn referrers_are_listed_and_filtered_and_signatures_verify() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("signed/app");
    let image = push_small_image(&client, &repo, 9, "v1").await;
    let subject = image.descriptor();

    let sbom = b"{\"sbom\":true}".to_vec();
    let manifest = artifact_manifest(
        Some("application/spdx+json"),
        None,
        vec![Descriptor::of("application/spdx+json", &sbom)],
        BTreeMap::from([("created-by".to_string(), "test".to_string())]),
        Some(subject.clone()),
    );
    let blobs: Vec<Arc<dyn BlobSource>> = vec![
        Arc::new(BytesSource::new(wharf_client::document::EMPTY_JSON)),
        Arc::new(BytesSource::new(sbom)),
    ];
    client.push_image(&repo, &manifest, blobs, &[]).await.unwrap();

    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let payload = simple_signing_payload(&repo.to_string(), &subject.digest);
    let signature = sign_payload(&private, &payload).unwrap();
    let signature_digest = client
        .attach_signature(&repo, &subject, &payload, &signature)
        .await
        .unwrap();

    let all = client.referrers(&repo, &subject.digest, None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all
        .iter()
        .any(|d| d.digest == manifest.digest && d.annotations["created-by"] == "test"));
    let sigs = client
        .referrers(
            &repo,
            &subject.digest,
            Some(wharf_client::signature::SIGNATURE_ARTIFACT_TYPE),
        )
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].digest, signature_digest);

    // A verifier's path: referrer → signature manifest → payload layer → check.
    let sig_manifest = client
        .get_manifest(&repo, &Reference::Digest(signature_digest))
        .await
        .unwrap();
    let sig: ImageManifest = serde_json::from_slice(&sig_manifest.bytes).unwrap();
    let layer = &sig.layers[0];
    let mut fetched = Vec::new();
    client
        .pull_blob(&repo, &layer.digest, Some(layer.size), &mut fetched)
        .await
        .unwrap();
    verify_payload(&public, &fetched, &layer.annotations[SIGNATURE_ANNOTATION]).unwrap();
    assert_eq!(sig.subject.unwrap().digest, subject.digest);

    let none = client.referrers(&repo, &sig.config.digest, None).await.unwrap();
    assert!(none.is_empty());
}
