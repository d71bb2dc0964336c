//! cosign-compatible signatures, attached as referrers: the "simple signing" payload as
//! a layer of type `application/vnd.dev.cosign.simplesigning.v1+json`, the signature
//! (base64 ECDSA P-256 over SHA-256, DER) in that layer's annotation, and the signed
//! image as the manifest's `subject` — what `cosign verify --key` checks.

use crate::blobs::{BlobSource, BytesSource};
use crate::client::Client;
use crate::document::Descriptor;
use crate::error::{Error, Result};
use crate::image::artifact_manifest;
use crate::manifests::Manifest;
use crate::reference::Repository;
use base64::Engine;
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_oci::Digest;

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// The payload cosign signs: which image (by name and manifest digest) is vouched for.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &Digest) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": manifest_digest.to_string() },
            "type": "cosign container image signature"
        },
        "optional": null
    }))
    .expect("the payload serialises")
}

/// Signs `payload` with a PKCS#8 PEM P-256 private key: base64 of the DER signature.
pub fn sign_payload(private_key_pem: &str, payload: &[u8]) -> Result<String> {
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::DecodePrivateKey;
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(private_key_pem)
        .map_err(|e| Error::Invalid(format!("the signing key is not a PKCS#8 PEM P-256 private key: {e}")))?;
    let signature: p256::ecdsa::Signature = key.sign(payload);
    Ok(base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes()))
}

/// Checks a base64 DER signature over `payload` with a PEM P-256 public key.
pub fn verify_payload(public_key_pem: &str, payload: &[u8], signature_b64: &str) -> Result<()> {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(public_key_pem)
        .map_err(|e| Error::Invalid(format!("the key is not a PEM P-256 public key: {e}")))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .map_err(|e| Error::Invalid(format!("the signature is not base64: {e}")))?;
    let signature = p256::ecdsa::Signature::from_der(&der)
        .map_err(|e| Error::Invalid(format!("the signature is not a DER ECDSA signature: {e}")))?;
    key.verify(payload, &signature)
        .map_err(|_| Error::Invalid("the signature does not match the payload and key".into()))
}

/// The signature manifest for `subject`.
pub fn signature_manifest(subject: &Descriptor, payload: &[u8], signature_b64: &str) -> Manifest {
    let mut layer = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, payload);
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_string(), signature_b64.to_string());
    artifact_manifest(
        Some(SIGNATURE_ARTIFACT_TYPE),
        None,
        vec![layer],
        BTreeMap::new(),
        Some(subject.clone()),
    )
}

impl Client {
    /// Attaches a signature to the manifest `subject` describes, as its referrer.
    pub async fn attach_signature(
        &self,
        repo: &Repository,
        subject: &Descriptor,
        payload: &[u8],
        signature_b64: &str,
    ) -> Result<Digest> {
        let manifest = signature_manifest(subject, payload, signature_b64);
        let blobs: Vec<Arc<dyn BlobSource>> = vec![
            Arc::new(BytesSource::new(crate::document::EMPTY_JSON)),
            Arc::new(BytesSource::new(payload.to_vec())),
        ];
        self.push_image(repo, &manifest, blobs, &[]).await
    }

    /// Adds a signature to cosign's tag scheme for `subject`: the manifest tagged
    /// `sha256-<hex>.sig`, one simple-signing layer per signature (kept ones stay), for
    /// registries and verifiers without the referrers API.
    pub async fn attach_signature_by_tag(
        &self,
        repo: &Repository,
        subject: &Descriptor,
        payload: &[u8],
        signature_b64: &str,
    ) -> Result<Digest> {
        let tag = crate::verify::signature_tag(&subject.digest);
        let mut layers = match self.get_manifest(repo, &wharf_oci::Reference::Tag(tag.clone())).await {
            Ok(existing) => serde_json::from_slice::<crate::document::ImageManifest>(&existing.bytes)
                .map(|m| m.layers)
                .unwrap_or_default(),
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut layer = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, payload);
        layer
            .annotations
            .insert(SIGNATURE_ANNOTATION.to_string(), signature_b64.to_string());
        if !layers.contains(&layer) {
            layers.push(layer);
        }
        let manifest = artifact_manifest(None, None, layers, BTreeMap::new(), None);
        let blobs: Vec<Arc<dyn BlobSource>> = vec![
            Arc::new(BytesSource::new(crate::document::EMPTY_JSON)),
            Arc::new(BytesSource::new(payload.to_vec())),
        ];
        self.push_image(repo, &manifest, blobs, &[tag]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::ImageManifest;
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    #[test]
    fn signatures_verify_and_sit_in_the_layer_annotation() {
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let digest = Digest::sha256_of(b"manifest");
        let payload = simple_signing_payload("127.0.0.1:5000/app", &digest);
        let signature = sign_payload(&private, &payload).unwrap();
        verify_payload(&public, &payload, &signature).unwrap();
        assert!(verify_payload(&public, b"other", &signature).is_err());

        let subject = Descriptor::new(wharf_oci::media_type::OCI_MANIFEST, digest.clone(), 8);
        let m = signature_manifest(&subject, &payload, &signature);
        let image: ImageManifest = serde_json::from_slice(&m.bytes).unwrap();
        assert_eq!(image.artifact_type.as_deref(), Some(SIGNATURE_ARTIFACT_TYPE));
        assert_eq!(image.layers[0].media_type, SIMPLE_SIGNING_MEDIA_TYPE);
        assert_eq!(image.layers[0].annotations[SIGNATURE_ANNOTATION], signature);
        assert_eq!(image.subject.unwrap().digest, digest);
        let text = String::from_utf8(payload).unwrap();
        assert!(text.contains(&digest.to_string()) && text.contains("cosign container image signature"));
    }
}
