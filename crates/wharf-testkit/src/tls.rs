//! [`TlsProxy`]: a TLS-terminating proxy on 127.0.0.1 in front of a plain-HTTP
//! registry, with its own test CA (made with rcgen for each proxy), so that clients can
//! be tested against HTTPS: an unknown CA refused, a given CA trusted, a client
//! certificate required (mutual TLS). Bytes are forwarded both ways unchanged.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::background::{Background, Bound, Runtime};

/// A PEM certificate and its PEM (PKCS#8) private key.
#[derive(Clone, Debug)]
pub struct PemPair {
    pub cert: String,
    pub key: String,
}

/// A test certificate authority: issues server and client certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let params = ca_params(name);
        let key = KeyPair::generate().expect("a CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a self-signed CA certificate"),
        }
    }

    /// The CA's certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A certificate for `127.0.0.1` and `localhost` (server) or named `name` (client).
    fn issue(&self, name: &str, purpose: ExtendedKeyUsagePurpose) -> PemPair {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![purpose];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed certificate");
        PemPair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A client certificate (for mutual TLS) signed by this CA.
    pub fn client_cert(&self, name: &str) -> PemPair {
        self.issue(name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// An intermediate CA that this CA signed; its [`TestCa::cert_pem`] is what a server
    /// sends after its own certificate.
    pub fn intermediate(&self, name: &str) -> TestCa {
        let params = ca_params(name);
        let key = KeyPair::generate().expect("an intermediate CA key");
        TestCa {
            issuer: CertifiedIssuer::signed_by(params, key, &self.issuer).expect("a signed intermediate"),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost` named `name`, with a key of
    /// `kind` in the PEM encoding that kind names. `cert` holds the certificate only.
    pub fn server_cert(&self, name: &str, kind: KeyKind) -> PemPair {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let (key, key_pem) = kind.generate();
        let cert = params.signed_by(&key, &self.issuer).expect("a signed certificate");
        PemPair {
            cert: cert.pem(),
            key: key_pem,
        }
    }

    /// A client certificate with no common name, only a DNS name or an e-mail address
    /// among its subject alternative names (`email` says which).
    pub fn client_cert_without_cn(&self, name: &str, email: bool) -> PemPair {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("parameters");
        let san = if email {
            rcgen::SanType::Rfc822Name(name.try_into().expect("an e-mail address"))
        } else {
            rcgen::SanType::DnsName(name.try_into().expect("a DNS name"))
        };
        params.subject_alt_names = vec![san];
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed certificate");
        PemPair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The key of a test certificate, and how its PEM is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256, `BEGIN PRIVATE KEY` (PKCS#8).
    EcdsaPkcs8,
    /// ECDSA P-256, `BEGIN EC PRIVATE KEY` (SEC1), as `openssl ecparam -genkey` writes.
    EcdsaSec1,
    /// RSA 2048, `BEGIN PRIVATE KEY` (PKCS#8).
    RsaPkcs8,
    /// RSA 2048, `BEGIN RSA PRIVATE KEY` (PKCS#1), as `openssl genrsa -traditional` writes.
    RsaPkcs1,
}

impl KeyKind {
    /// A new key, for rcgen to sign with, and its PEM in this kind's encoding.
    fn generate(self) -> (KeyPair, String) {
        use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let lf = p256::pkcs8::LineEnding::LF;
        match self {
            KeyKind::EcdsaPkcs8 | KeyKind::EcdsaSec1 => {
                let key = KeyPair::generate().expect("an ECDSA key");
                let pem = if self == KeyKind::EcdsaSec1 {
                    let secret = p256::SecretKey::from_pkcs8_der(&key.serialize_der()).expect("a P-256 key");
                    secret.to_sec1_pem(lf).expect("SEC1 PEM").to_string()
                } else {
                    key.serialize_pem()
                };
                (key, pem)
            }
            KeyKind::RsaPkcs8 | KeyKind::RsaPkcs1 => {
                let rsa = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("an RSA key");
                let pkcs8 = rsa.to_pkcs8_der().expect("PKCS#8 DER");
                let key = KeyPair::from_pkcs8_der_and_sign_algo(
                    &PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()),
                    &rcgen::PKCS_RSA_SHA256,
                )
                .expect("rcgen signs with the RSA key");
                let pem = if self == KeyKind::RsaPkcs1 {
                    rsa.to_pkcs1_pem(lf).expect("PKCS#1 PEM").to_string()
                } else {
                    rsa.to_pkcs8_pem(lf).expect("PKCS#8 PEM").to_string()
                };
                (key, pem)
            }
        }
    }
}

/// The parameters of a CA certificate named `name` (a root or an intermediate).
fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A TLS proxy; stopped (every connection closed) on drop.
pub struct TlsProxy {
    server: Background,
    ca: TestCa,
    with_client_cert: Arc<AtomicUsize>,
}

impl TlsProxy {
    /// Starts a proxy to `upstream` (`HOST:PORT` of a plain-HTTP registry). With
    /// `require_client_cert`, a client must present a certificate the proxy's CA signed.
    pub fn start(upstream: &str, require_client_cert: bool) -> TlsProxy {
        let ca = TestCa::new("wharf test CA");
        let server = ca.issue("wharf test registry", ExtendedKeyUsagePurpose::ServerAuth);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der()).expect("the CA is a valid root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("a client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = vec![pem_der(&server.cert), ca.der()];
        let key = PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from_pem_slice(server.key.as_bytes()).expect("the server key is PEM PKCS#8"),
        );
        let mut config = builder.with_single_cert(chain, key).expect("the server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let upstream: Arc<str> = upstream.into();
        let with_client_cert = Arc::new(AtomicUsize::new(0));
        let counted = with_client_cert.clone();
        let server = Bound::loopback("tls").serve(Runtime::CurrentThread, move |socket, _| {
            let (acceptor, upstream, counted) = (acceptor.clone(), upstream.clone(), counted.clone());
            async move {
                let Ok(Ok(mut tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(socket)).await
                else {
                    return;
                };
                if tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty()) {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let Ok(mut plain) = tokio::net::TcpStream::connect(&*upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            }
        });
        TlsProxy {
            server,
            ca,
            with_client_cert,
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// The CA that signed the proxy's certificate (and accepts client certificates).
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// How many connections presented a client certificate.
    pub fn connections_with_client_cert(&self) -> usize {
        self.with_client_cert.load(Ordering::SeqCst)
    }
}

/// The DER bytes of a PEM certificate.
fn pem_der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}
