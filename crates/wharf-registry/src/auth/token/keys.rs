//! Keys for signing and checking tokens: P-256 (ES256) or RSA (RS256) in PEM files. A
//! signing key can also be generated and kept (mode 0600) so tokens stay valid across
//! restarts.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use std::io::Write;
use std::path::Path;

/// A private key to sign tokens with, and its public half to check them.
pub struct SigningKey {
    pub algorithm: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// The private key's PKCS#8 DER: the secret behind keyed fingerprints
    /// ([`SigningKey::fingerprint`]), so every replica sharing the key computes the same.
    secret: Vec<u8>,
}

impl SigningKey {
    /// A P-256 key in PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) PEM, or an RSA
    /// key in PKCS#8 or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let ec = p256::SecretKey::from_pkcs8_pem(pem).or_else(|_| p256::SecretKey::from_sec1_pem(pem));
        if let Ok(secret) = ec {
            return SigningKey::from_p256(&secret);
        }
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(pem).or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem));
        if let Ok(private) = rsa {
            let public = private
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?;
            let secret = private.to_pkcs8_der().map_err(|e| e.to_string())?.as_bytes().to_vec();
            return Ok(SigningKey {
                secret,
                algorithm: Algorithm::RS256,
                encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?,
                decoding: DecodingKey::from_rsa_pem(public.as_bytes()).map_err(|e| e.to_string())?,
            });
        }
        Err("not a P-256 or RSA private key in PEM".into())
    }

    fn from_p256(secret: &p256::SecretKey) -> Result<SigningKey, String> {
        let private = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
        let public = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?;
        Ok(SigningKey {
            secret: private_der(secret)?,
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(private.as_bytes()).map_err(|e| e.to_string())?,
            decoding: DecodingKey::from_ec_pem(public.as_bytes()).map_err(|e| e.to_string())?,
        })
    }

    /// A keyed fingerprint of `message` for `purpose` (HMAC-SHA256 keyed with this private
    /// key, base64url): it tells whether `message` changed without revealing it, and only
    /// a holder of the key can make one.
    pub(crate) fn fingerprint(&self, purpose: &str, message: &[u8]) -> Result<String, String> {
        let mut input = Vec::with_capacity(purpose.len() + 1 + message.len());
        input.extend_from_slice(purpose.as_bytes());
        input.push(0);
        input.extend_from_slice(message);
        jsonwebtoken::crypto::sign(&input, &EncodingKey::from_secret(&self.secret), Algorithm::HS256)
            .map_err(|e| e.to_string())
    }

    /// A new P-256 key and its PKCS#8 PEM.
    pub fn generate() -> Result<(SigningKey, String), String> {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
        Ok((SigningKey::from_p256(&secret)?, pem.to_string()))
    }

    /// The key in `path`; when there is none, a new P-256 key written there readable by
    /// the owner only.
    pub fn load_or_generate(path: &Path) -> Result<SigningKey, String> {
        match std::fs::read_to_string(path) {
            Ok(pem) => SigningKey::from_pem(&pem).map_err(|e| format!("token key {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, pem) = SigningKey::generate()?;
                write_private(path, pem.as_bytes())
                    .map_err(|e| format!("cannot write token key {}: {e}", path.display()))?;
                tracing::info!("generated a token signing key in {}", path.display());
                Ok(key)
            }
            Err(e) => Err(format!("cannot read token key {}: {e}", path.display())),
        }
    }

    /// The public half, for a [`TrustedIssuer`](super::TrustedIssuer).
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            algorithm: self.algorithm,
            decoding: self.decoding.clone(),
        }
    }
}

fn private_der(secret: &p256::SecretKey) -> Result<Vec<u8>, String> {
    Ok(secret.to_pkcs8_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
}

/// Writes a new file with mode 0600 and syncs it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A public key that checks tokens, with the one algorithm it accepts.
#[derive(Clone)]
pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub(crate) decoding: DecodingKey,
}

impl VerifyingKey {
    /// A P-256 (ES256) or RSA (RS256) public key (`PUBLIC KEY`, `RSA PUBLIC KEY`) or an
    /// X.509 certificate (`CERTIFICATE`) holding one, in PEM.
    pub fn from_pem(pem: &str) -> Result<VerifyingKey, String> {
        if let Ok(decoding) = DecodingKey::from_ec_pem(pem.as_bytes()) {
            return Ok(VerifyingKey {
                algorithm: Algorithm::ES256,
                decoding,
            });
        }
        match DecodingKey::from_rsa_pem(pem.as_bytes()) {
            Ok(decoding) => Ok(VerifyingKey {
                algorithm: Algorithm::RS256,
                decoding,
            }),
            Err(e) => Err(format!("not an EC or RSA public key or certificate in PEM: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_kept_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/token.pem");
        let first = SigningKey::load_or_generate(&path).unwrap();
        assert_eq!(first.algorithm, Algorithm::ES256);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let pem = std::fs::read_to_string(&path).unwrap();
        SigningKey::load_or_generate(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
        assert!(SigningKey::from_pem("junk").is_err());
    }

    #[test]
    fn fingerprints_depend_on_the_key_the_purpose_and_the_message() {
        let (key, pem) = SigningKey::generate().unwrap();
        let same_key = SigningKey::from_pem(&pem).unwrap();
        let (other_key, _) = SigningKey::generate().unwrap();
        let print = |k: &SigningKey, purpose: &str, m: &str| k.fingerprint(purpose, m.as_bytes()).unwrap();
        assert_eq!(print(&key, "p", "hash"), print(&same_key, "p", "hash"));
        assert_ne!(print(&key, "p", "hash"), print(&other_key, "p", "hash"));
        assert_ne!(print(&key, "p", "hash"), print(&key, "q", "hash"));
        assert_ne!(print(&key, "p", "hash"), print(&key, "p", "hash2"));
        assert!(!print(&key, "p", "hash").contains("hash"));
    }
}
