//! The name a verified client certificate stands for: its subject's common name (CN),
//! or, when it has none, the first DNS name or e-mail address among its subject
//! alternative names. The access rules see it as a user of that name.

use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::{DirectoryString, GeneralName};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// The attribute type of a common name (id-at-commonName, RFC 4519).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The certificate's name, or `None` when it has none of those (or does not parse,
/// which a certificate rustls verified always does).
pub fn subject_name(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let common_name = tbs
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|attribute| attribute.oid == COMMON_NAME)
        .find_map(|attribute| {
            // A directory string is a choice of string types, decoded from the whole value.
            let name = DirectoryString::from_der(&attribute.value.to_der().ok()?).ok()?;
            Some(directory_string(&name)).filter(|name| !name.is_empty())
        });
    if common_name.is_some() {
        return common_name;
    }
    let (_, names) = tbs.get::<SubjectAltName>().ok()??;
    names.0.iter().find_map(|name| match name {
        GeneralName::DnsName(name) | GeneralName::Rfc822Name(name) if !name.as_str().is_empty() => {
            Some(name.as_str().to_string())
        }
        _ => None,
    })
}

/// The text of a directory string, whichever of its string types it was written in.
fn directory_string(name: &DirectoryString) -> String {
    match name {
        DirectoryString::PrintableString(s) => s.as_str().to_string(),
        DirectoryString::TeletexString(s) => s.as_str().to_string(),
        DirectoryString::Utf8String(s) => s.clone(),
    }
}
