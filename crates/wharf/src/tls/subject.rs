//! The name a verified client certificate stands for: its subject's common name (CN),
//! or, when it has none, the first DNS name or e-mail address among its subject
//! alternative names. The access rules see it as a user of that name.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The certificate's name, or `None` when it has none of those (or does not parse,
/// which a certificate rustls verified always does).
pub fn subject_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    if let Some(cn) = cert
        .subject()
        .iter_common_name()
        .find_map(|cn| cn.as_str().ok().filter(|cn| !cn.is_empty()))
    {
        return Some(cn.to_string());
    }
    let names = cert.subject_alternative_name().ok()??;
    names.value.general_names.iter().find_map(|name| match name {
        GeneralName::DNSName(name) | GeneralName::RFC822Name(name) if !name.is_empty() => Some(name.to_string()),
        _ => None,
    })
}
