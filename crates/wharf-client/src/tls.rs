//! How the client trusts registries over TLS: the system's trust store (rustls with the
//! platform verifier, reqwest's `rustls` feature), plus CA certificates given for every
//! registry, plus per-registry `certs.d` directories as docker and containers use them
//! (`DIR/HOST:PORT/*.crt` are CAs, `DIR/HOST:PORT/NAME.cert` with `NAME.key` a client
//! certificate), a client certificate for mutual TLS, and, only when asked for
//! explicitly, accepting any certificate.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The TLS settings of a [`crate::Client`].
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// PEM files of CA certificates trusted for every registry, besides the system's.
    pub ca_certs: Vec<PathBuf>,
    /// A PEM certificate (chain) and its PEM private key, presented to every registry
    /// that asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Accept any certificate (self-signed, expired, another host's): only for tests.
    pub insecure: bool,
    /// Directories holding one `HOST:PORT` directory per registry, looked in in order.
    pub certs_dirs: Vec<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_certs: Vec::new(),
            client_cert: None,
            insecure: false,
            certs_dirs: default_certs_dirs(),
        }
    }
}

/// `/etc/docker/certs.d` and `/etc/containers/certs.d`, as docker and podman read them.
pub fn default_certs_dirs() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/docker/certs.d"),
        PathBuf::from("/etc/containers/certs.d"),
    ]
}

impl TlsConfig {
    /// Whether anything was said about TLS for every registry, which makes the client
    /// reach loopback registries over HTTPS too.
    pub fn is_customised(&self) -> bool {
        self.insecure || !self.ca_certs.is_empty() || self.client_cert.is_some()
    }

    /// The `certs.d` directory for `registry` (`HOST:PORT` as written), if one exists.
    pub fn registry_dir(&self, registry: &str) -> Option<PathBuf> {
        if registry.is_empty() || registry.contains('/') || registry.starts_with('.') {
            return None;
        }
        self.certs_dirs
            .iter()
            .map(|dir| dir.join(registry))
            .find(|dir| dir.is_dir())
    }

    /// A reqwest builder set up with these settings and, for a registry with a
    /// `certs.d` directory, that directory's CAs and client certificate.
    pub(crate) fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
        registry_dir: Option<&Path>,
    ) -> Result<reqwest::ClientBuilder> {
        let mut roots = Vec::new();
        for path in &self.ca_certs {
            roots.extend(read_certificates(path)?);
        }
        let mut identity = match &self.client_cert {
            Some((cert, key)) => Some(read_identity(cert, key)?),
            None => None,
        };
        if let Some(dir) = registry_dir {
            let (cas, pair) = certs_dir_files(dir)?;
            for ca in cas {
                roots.extend(read_certificates(&ca)?);
            }
            if let Some((cert, key)) = pair {
                identity = Some(read_identity(&cert, &key)?);
            }
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }
}

/// A certificate file and its key file.
type CertAndKey = (PathBuf, PathBuf);

/// A `certs.d` directory's CA files (`*.crt`) and its client certificate (the first
/// `NAME.cert` with a `NAME.key`), in name order.
fn certs_dir_files(dir: &Path) -> Result<(Vec<PathBuf>, Option<CertAndKey>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", dir.display())))?;
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let has_ext = |p: &Path, ext: &str| p.extension().is_some_and(|e| e == ext);
    let cas = names.iter().filter(|p| has_ext(p, "crt")).cloned().collect();
    let pair = names
        .iter()
        .filter(|p| has_ext(p, "cert"))
        .map(|cert| (cert.clone(), cert.with_extension("key")))
        .find(|(_, key)| key.is_file());
    Ok((cas, pair))
}

fn read_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::Invalid(format!("cannot read the CA certificate {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::Invalid(format!("{} holds no PEM certificate: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Invalid(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

fn read_identity(cert: &Path, key: &Path) -> Result<reqwest::Identity> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", p.display())));
    let mut pem = read(cert)?;
    pem.push(b'\n');
    pem.extend(read(key)?);
    reqwest::Identity::from_pem(&pem).map_err(|e| {
        Error::Invalid(format!(
            "{} and {} are not a PEM certificate and private key: {e}",
            cert.display(),
            key.display()
        ))
    })
}
