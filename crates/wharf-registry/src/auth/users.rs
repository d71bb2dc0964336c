//! Users listed in the configuration, each with a bcrypt hash and groups.

use super::password::{account_in, authenticate_basic, PasswordEntry, PasswordSource};
use super::{Account, AuthError, Authenticator, Credentials, Identity};
use async_trait::async_trait;
use std::sync::Arc;

/// A fixed list of users.
pub struct ConfigUsers {
    entries: Arc<Vec<PasswordEntry>>,
}

impl ConfigUsers {
    /// Refuses hashes that are not bcrypt, so a plain-text password in a config file is
    /// an error at start-up rather than a user who can never sign in.
    pub fn new(entries: Vec<PasswordEntry>) -> Result<ConfigUsers, String> {
        for e in &entries {
            if e.hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "user {:?}: password_hash is not a bcrypt hash (make one with `htpasswd -nbB USER PASSWORD`)",
                    e.username
                ));
            }
        }
        Ok(ConfigUsers {
            entries: Arc::new(entries),
        })
    }
}

impl PasswordSource for ConfigUsers {
    fn entries(&self) -> Result<Arc<Vec<PasswordEntry>>, AuthError> {
        Ok(self.entries.clone())
    }
}

#[async_trait]
impl Authenticator for ConfigUsers {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        authenticate_basic(&[self], credentials).await
    }

    async fn account(&self, name: &str) -> Result<Option<Account>, AuthError> {
        account_in(&[self], name)
    }
}
