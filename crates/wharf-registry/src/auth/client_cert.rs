//! Signing in with a TLS client certificate (mutual TLS): the subject of a certificate
//! the server's TLS layer verified becomes a user of that name, whom the access rules
//! see like a user who signed in with a password.
//!
//! The TLS layer, not this module, verifies the certificate chain against the client CA
//! and works out the subject; it hands the subject on as a request extension,
//! [`VerifiedClientCertificate`]. A request extension cannot come from the network (no
//! header or body sets one), so a request carries it only when the code that accepted
//! its connection put it there: `wharf serve`'s listener does for connections whose
//! client certificate it verified. An application that embeds the router with its own
//! TLS layer does the same.
//!
//! An `Authorization` header, when present, decides instead: a client with a
//! certificate may still sign in as another user with a password or a token.

use super::{AuthError, Authenticator, Credentials, Identity};
use async_trait::async_trait;
use std::collections::HashMap;

/// Request extension: the subject of the client certificate the connection's TLS layer
/// verified against its client CA (its common name, or else its first DNS name or
/// e-mail address). Insert it only after verifying the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClientCertificate {
    pub subject: String,
}

/// Turns [`Credentials::ClientCertificate`] into [`Identity::User`] named after the
/// certificate's subject, with the groups given for that name (none otherwise).
#[derive(Debug, Default, Clone)]
pub struct ClientCertificateAuthenticator {
    groups: HashMap<String, Vec<String>>,
}

impl ClientCertificateAuthenticator {
    /// `groups`: the groups of subjects that have some (e.g. the config's users').
    pub fn new(groups: HashMap<String, Vec<String>>) -> ClientCertificateAuthenticator {
        ClientCertificateAuthenticator { groups }
    }
}

#[async_trait]
impl Authenticator for ClientCertificateAuthenticator {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        match credentials {
            Credentials::ClientCertificate { subject } => {
                let groups = self.groups.get(subject).cloned().unwrap_or_default();
                Ok(Some(Identity::user(subject.clone(), groups)))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verified_subject_is_a_user_with_its_groups() {
        let auth =
            ClientCertificateAuthenticator::new(HashMap::from([("ci".to_string(), vec!["builders".to_string()])]));
        let ci = Credentials::ClientCertificate { subject: "ci".into() };
        assert_eq!(
            auth.authenticate(&ci).await,
            Ok(Some(Identity::user("ci", vec!["builders".into()])))
        );
        let other = Credentials::ClientCertificate { subject: "web".into() };
        assert_eq!(auth.authenticate(&other).await, Ok(Some(Identity::user("web", vec![]))));
        assert_eq!(auth.authenticate(&Credentials::None).await, Ok(None));
        assert_eq!(auth.authenticate(&Credentials::Bearer("t".into())).await, Ok(None));
    }
}
