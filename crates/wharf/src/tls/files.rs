//! The `[tls]` settings and the server configuration made from their PEM files:
//! a certificate chain (the server's certificate first, then the intermediates), its
//! private key (PKCS#8, PKCS#1 RSA or SEC1 EC; RSA, ECDSA or Ed25519), and optionally
//! the CA that client certificates must chain to. HTTP/2 and HTTP/1.1 are offered by
//! ALPN, HTTP/2 first.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether a client must present a certificate signed by the client CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A connection without a client certificate is refused in the handshake.
    #[default]
    Required,
    /// A client may present one (then it must verify); without one it is anonymous.
    Optional,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<ClientAuth, String> {
        match s {
            "required" => Ok(ClientAuth::Required),
            "optional" => Ok(ClientAuth::Optional),
            other => Err(format!("tls client_auth must be required or optional, not {other:?}")),
        }
    }
}

/// The `[tls]` section of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub client_auth: Option<ClientAuth>,
}

/// Where the server's TLS material is: TLS is on when these are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate, then any intermediates.
    pub cert: PathBuf,
    /// PEM: the certificate's private key.
    pub key: PathBuf,
    /// PEM: the CA (one or more certificates) client certificates are verified against.
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

impl TlsFiles {
    /// The settings from flags (or variables) and the file, flags first: `None` when
    /// neither a certificate nor a key is given; an error when only one is, or when a
    /// client CA or client auth mode is given without them.
    pub fn merge(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        client_ca: Option<PathBuf>,
        client_auth: Option<ClientAuth>,
    ) -> Result<Option<TlsFiles>, String> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert,
                key,
                client_ca,
                client_auth: client_auth.unwrap_or_default(),
            })),
            (None, None) if client_ca.is_none() && client_auth.is_none() => Ok(None),
            (None, None) => Err("tls client_ca and client_auth need tls cert and key (TLS is off without them)".into()),
            (Some(_), None) => Err("tls cert is given without tls key".into()),
            (None, Some(_)) => Err("tls key is given without tls cert".into()),
        }
    }
}

/// The bytes of the files, as read at one moment: what a configuration is made from,
/// and what the watcher compares to see whether anything changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl Material {
    pub fn read(files: &TlsFiles) -> Result<Material, String> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
        };
        Ok(Material {
            cert: read(&files.cert, "certificate")?,
            key: read(&files.key, "key")?,
            client_ca: files
                .client_ca
                .as_deref()
                .map(|path| read(path, "client CA"))
                .transpose()?,
        })
    }
}

/// A rustls server configuration from `material`, on the ring provider; the error says
/// which file is wrong and how.
pub fn server_config(files: &TlsFiles, material: &Material) -> Result<ServerConfig, String> {
    let cert = files.cert.display();
    let chain = CertificateDer::pem_slice_iter(&material.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert}: not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{cert}: no PEM certificate (BEGIN CERTIFICATE) in it"));
    }
    let key = PrivateKeyDer::from_pem_slice(&material.key).map_err(|e| {
        format!(
            "{}: no PEM private key (PKCS#8, RSA PKCS#1 or EC SEC1) in it: {e}",
            files.key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match (&files.client_ca, &material.client_ca) {
        (Some(path), Some(pem)) => {
            let mut roots = RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(pem) {
                let ca = ca.map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
                roots
                    .add(ca)
                    .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "{}: no PEM certificate (BEGIN CERTIFICATE) in it",
                    path.display()
                ));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match files.client_auth {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("{}: client certificate verifier: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "{cert} with {}: {e} (is the key the certificate's, and the certificate first in the file?)",
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
