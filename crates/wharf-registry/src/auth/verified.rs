//! Passwords recently found to match a bcrypt hash.
//!
//! bcrypt is slow by design (tens to hundreds of milliseconds at the costs htpasswd
//! writes), and Basic clients send their credentials with every request: a push of an
//! image is dozens of requests. A successful check is remembered for a while so only the
//! first request of a session pays for it. Only a digest of the hash and the password is
//! kept, never the password; the hash is part of the key, so a changed password (a new
//! hash) is checked afresh, and failures are never remembered.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a successful check is remembered.
const REMEMBER_FOR: Duration = Duration::from_secs(300);
/// At most this many remembered checks; when full, the oldest half is forgotten.
const CAPACITY: usize = 4096;

/// Successful (hash, password) checks and when they were made.
#[derive(Default)]
pub struct VerifiedPasswords {
    checked: Mutex<HashMap<[u8; 32], Instant>>,
}

impl VerifiedPasswords {
    fn key(hash: &str, password: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(hash.as_bytes());
        digest.update([0]);
        digest.update(password.as_bytes());
        digest.finalize().into()
    }

    /// Whether `password` was found to match `hash` less than `REMEMBER_FOR` ago.
    pub fn recently_matched(&self, hash: &str, password: &str) -> bool {
        let key = Self::key(hash, password);
        let checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked.get(&key).is_some_and(|at| at.elapsed() < REMEMBER_FOR)
    }

    /// Remembers that `password` matches `hash`.
    pub fn remember(&self, hash: &str, password: &str) {
        let key = Self::key(hash, password);
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.len() >= CAPACITY {
            checked.retain(|_, at| at.elapsed() < REMEMBER_FOR);
            if checked.len() >= CAPACITY {
                let mut ages: Vec<Instant> = checked.values().copied().collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 2];
                checked.retain(|_, at| *at > cutoff);
            }
        }
        checked.insert(key, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_exact_hash_and_password() {
        let verified = VerifiedPasswords::default();
        assert!(!verified.recently_matched("$2y$05$h", "pw"));
        verified.remember("$2y$05$h", "pw");
        assert!(verified.recently_matched("$2y$05$h", "pw"));
        assert!(!verified.recently_matched("$2y$05$h", "pw2"));
        assert!(!verified.recently_matched("$2y$05$other", "pw"));
    }

    #[test]
    fn stays_bounded() {
        let verified = VerifiedPasswords::default();
        for i in 0..CAPACITY * 2 {
            verified.remember("$2y$05$h", &i.to_string());
        }
        assert!(verified.checked.lock().unwrap().len() <= CAPACITY);
        assert!(verified.recently_matched("$2y$05$h", &(CAPACITY * 2 - 1).to_string()));
    }
}
