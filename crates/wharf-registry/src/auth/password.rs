//! Basic credentials checked against bcrypt hashes, from any number of
//! [`PasswordSource`]s (an htpasswd file, users in the config).
//!
//! The answer and its timing never tell whether a user exists: a user name is looked
//! for with constant-time comparisons over every entry, and an unknown user still costs
//! one bcrypt check (against a dummy hash of the same cost), whose result is discarded.

use super::verified::VerifiedPasswords;
use super::{Account, AuthError, Authenticator, Credentials, Identity};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use subtle::ConstantTimeEq;

/// Cost of the dummy hash when no source has an entry to copy it from (htpasswd -B's).
const FALLBACK_COST: u32 = 5;

/// One user's password hash and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordEntry {
    pub username: String,
    /// A bcrypt hash (`$2y$`, `$2b$` or `$2a$`).
    pub hash: String,
    pub groups: Vec<String>,
}

/// Somewhere user entries come from.
pub trait PasswordSource: Send + Sync {
    /// Every entry, current at the time of asking.
    fn entries(&self) -> Result<Arc<Vec<PasswordEntry>>, AuthError>;
}

/// The entry of `username`, compared in constant time against every entry so the time
/// taken does not depend on where (or whether) the user is found.
pub fn find<'a>(entries: &'a [PasswordEntry], username: &str) -> Option<&'a PasswordEntry> {
    let mut found = None;
    for entry in entries {
        let same: bool = entry.username.as_bytes().ct_eq(username.as_bytes()).into();
        if same && found.is_none() {
            found = Some(entry);
        }
    }
    found
}

/// The cost field of a bcrypt hash (`$2y$05$…` → 5).
fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

/// A valid hash of cost `cost` of a password nobody knows, made once per cost.
fn dummy_hash(cost: u32) -> String {
    static HASHES: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let hashes = HASHES.get_or_init(Default::default);
    let mut hashes = hashes.lock().unwrap_or_else(|e| e.into_inner());
    hashes
        .entry(cost)
        .or_insert_with(|| {
            bcrypt::hash(uuid::Uuid::new_v4().to_string(), cost)
                .unwrap_or_else(|_| bcrypt::hash("x", FALLBACK_COST).unwrap_or_default())
        })
        .clone()
}

/// Checks `password` against `entry`'s hash, or against a dummy hash when there is no
/// entry; bcrypt's own comparison is constant-time. Runs on a blocking thread: bcrypt
/// is deliberately slow.
/// A password that matched recently is not checked again (see [`VerifiedPasswords`]).
pub async fn verify(entry: Option<PasswordEntry>, cost_hint: Option<u32>, password: String) -> bool {
    static VERIFIED: OnceLock<VerifiedPasswords> = OnceLock::new();
    let verified = VERIFIED.get_or_init(VerifiedPasswords::default);
    let known = entry.is_some();
    let hash = match entry {
        Some(e) => e.hash,
        None => dummy_hash(cost_hint.unwrap_or(FALLBACK_COST)),
    };
    if known && verified.recently_matched(&hash, &password) {
        return true;
    }
    let matched = tokio::task::spawn_blocking(move || {
        let matched = bcrypt::verify(&password, &hash).unwrap_or(false);
        if known && matched {
            verified.remember(&hash, &password);
        }
        matched
    })
    .await
    .unwrap_or(false);
    known && matched
}

/// Checks Basic credentials against password sources, first source first.
pub struct PasswordAuthenticator {
    sources: Vec<Arc<dyn PasswordSource>>,
}

impl PasswordAuthenticator {
    pub fn new(sources: Vec<Arc<dyn PasswordSource>>) -> PasswordAuthenticator {
        PasswordAuthenticator { sources }
    }
}

#[async_trait]
impl Authenticator for PasswordAuthenticator {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        let sources: Vec<&dyn PasswordSource> = self.sources.iter().map(|s| s.as_ref()).collect();
        authenticate_basic(&sources, credentials).await
    }

    async fn account(&self, name: &str) -> Result<Option<Account>, AuthError> {
        let sources: Vec<&dyn PasswordSource> = self.sources.iter().map(|s| s.as_ref()).collect();
        account_in(&sources, name)
    }
}

/// The account of `name` in the first of `sources` that has it: their groups, and
/// their password hash as the credential.
pub fn account_in(sources: &[&dyn PasswordSource], name: &str) -> Result<Option<Account>, AuthError> {
    for source in sources {
        if let Some(entry) = find(&source.entries()?, name) {
            return Ok(Some(Account {
                groups: entry.groups.clone(),
                credential: entry.hash.clone(),
            }));
        }
    }
    Ok(None)
}

/// Basic credentials checked against `sources` (the first that knows the user
/// decides); `Ok(None)` for other kinds of credentials.
pub async fn authenticate_basic(
    sources: &[&dyn PasswordSource],
    credentials: &Credentials,
) -> Result<Option<Identity>, AuthError> {
    let Credentials::Basic { username, password } = credentials else {
        return Ok(None);
    };
    let mut found = None;
    let mut cost_hint = None;
    for source in sources {
        let entries = source.entries()?;
        cost_hint = cost_hint.or_else(|| entries.first().and_then(|e| cost_of(&e.hash)));
        if found.is_none() {
            found = find(&entries, username).cloned();
        }
    }
    let groups = found.as_ref().map(|e| e.groups.clone()).unwrap_or_default();
    if verify(found, cost_hint, password.clone()).await {
        Ok(Some(Identity::user(username.clone(), groups)))
    } else {
        Err(AuthError::BadPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Arc<Vec<PasswordEntry>>);
    impl PasswordSource for Fixed {
        fn entries(&self) -> Result<Arc<Vec<PasswordEntry>>, AuthError> {
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn accepts_the_right_password_only() {
        let entry = PasswordEntry {
            username: "alice".into(),
            hash: bcrypt::hash("secret", 4).unwrap(),
            groups: vec!["dev".into()],
        };
        let auth = PasswordAuthenticator::new(vec![Arc::new(Fixed(Arc::new(vec![entry])))]);
        let basic = |u: &str, p: &str| Credentials::Basic {
            username: u.into(),
            password: p.into(),
        };
        assert_eq!(
            auth.authenticate(&basic("alice", "secret")).await.unwrap(),
            Some(Identity::user("alice", vec!["dev".into()]))
        );
        assert_eq!(
            auth.authenticate(&basic("alice", "wrong")).await,
            Err(AuthError::BadPassword)
        );
        assert_eq!(
            auth.authenticate(&basic("bob", "secret")).await,
            Err(AuthError::BadPassword)
        );
        assert_eq!(auth.authenticate(&Credentials::Bearer("t".into())).await, Ok(None));
        assert_eq!(cost_of("$2y$05$abc"), Some(5));
    }
}
