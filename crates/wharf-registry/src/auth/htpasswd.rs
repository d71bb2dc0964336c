//! Users from an htpasswd file with bcrypt entries, as `htpasswd -B` writes them
//! (`alice:$2y$05$…`, one per line). The file is read again when it changes (checked by
//! modification time and length at most once per interval), so users can be added or
//! removed without a restart.

use super::password::{account_in, authenticate_basic, PasswordEntry, PasswordSource};
use super::{Account, AuthError, Authenticator, Credentials, Identity};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often, at most, the file's modification time is looked at.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// An htpasswd file, reloaded when it changes.
pub struct HtpasswdFile {
    path: PathBuf,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    checked: Instant,
    stamp: Option<(SystemTime, u64)>,
    entries: Arc<Vec<PasswordEntry>>,
}

impl HtpasswdFile {
    /// Reads `path` now; an unreadable file is an error at start-up (later, a failed
    /// reload keeps the users last read).
    pub fn open(path: impl AsRef<Path>) -> Result<HtpasswdFile, String> {
        let path = path.as_ref().to_path_buf();
        let (stamp, entries) = read(&path)?;
        Ok(HtpasswdFile {
            path,
            interval: DEFAULT_CHECK_INTERVAL,
            state: Mutex::new(State {
                checked: Instant::now(),
                stamp: Some(stamp),
                entries: Arc::new(entries),
            }),
        })
    }

    /// Changes how often the file is checked for changes.
    pub fn with_check_interval(mut self, interval: Duration) -> HtpasswdFile {
        self.interval = interval;
        self
    }
}

fn stamp_of(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

fn read(path: &Path) -> Result<((SystemTime, u64), Vec<PasswordEntry>), String> {
    let stamp = stamp_of(path).map_err(|e| format!("cannot read htpasswd file {}: {e}", path.display()))?;
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read htpasswd file {}: {e}", path.display()))?;
    Ok((stamp, parse(&text, path)))
}

/// The bcrypt entries of an htpasswd file. Other hash kinds (MD5, SHA-1, crypt) are
/// skipped with a warning naming the line, never the hash.
pub fn parse(text: &str, path: &Path) -> Vec<PasswordEntry> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash))
                if !user.is_empty()
                    && (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) =>
            {
                entries.push(PasswordEntry {
                    username: user.to_string(),
                    hash: hash.to_string(),
                    groups: Vec::new(),
                })
            }
            _ => tracing::warn!(
                "{} line {}: not a bcrypt entry (write it with htpasswd -B); skipped",
                path.display(),
                number + 1
            ),
        }
    }
    entries
}

impl PasswordSource for HtpasswdFile {
    fn entries(&self) -> Result<Arc<Vec<PasswordEntry>>, AuthError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= self.interval {
            state.checked = Instant::now();
            let stamp = stamp_of(&self.path).ok();
            if stamp.is_some() && stamp != state.stamp {
                match read(&self.path) {
                    Ok((stamp, entries)) => {
                        tracing::info!("reloaded {} ({} users)", self.path.display(), entries.len());
                        state.stamp = Some(stamp);
                        state.entries = Arc::new(entries);
                    }
                    Err(e) => tracing::warn!("{e}; keeping the users read before"),
                }
            }
        }
        Ok(state.entries.clone())
    }
}

#[async_trait]
impl Authenticator for HtpasswdFile {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        authenticate_basic(&[self], credentials).await
    }

    async fn account(&self, name: &str) -> Result<Option<Account>, AuthError> {
        account_in(&[self], name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bcrypt_entries_only() {
        let text = "# users\nalice:$2y$05$abcdefghijklmnopqrstuu5Zb3f6q1Xq6sEwG3Dmj5Yv7sA7p4m2\n\nbob:{SHA}xyz\ncarol:$apr1$x$y\n";
        let entries = parse(text, Path::new("test"));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].username, "alice");
    }
}
