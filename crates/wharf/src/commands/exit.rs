//! Exit codes, and the one-line error every client command ends with when it fails.

use std::fmt;
use std::process::ExitCode;

/// What kind of failure ended a command; each has its exit code (see `wharf --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: the registry refused the request, an I/O error, anything not below.
    Failure = 1,
    /// 2: a bad flag, argument or reference.
    Usage = 2,
    /// 3: no such manifest, tag, blob or repository.
    NotFound = 3,
    /// 4: authentication or permission refused.
    Auth = 4,
    /// 5: content did not match its digest or size.
    Integrity = 5,
    /// 6: the registry could not be reached (after retries).
    Unreachable = 6,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A failed command: its exit code and what to tell the user.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Failure, message)
    }

    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(Exit::NotFound, message)
    }

    /// The same failure, its message prefixed with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Failure {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The message on one line, as `wharf: <message>` prints it.
    pub fn one_line(&self) -> String {
        self.message.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code a library error calls for.
pub fn exit_of(e: &wharf_client::Error) -> Exit {
    use wharf_client::Error;
    if e.is_not_found() {
        Exit::NotFound
    } else if e.is_auth() {
        Exit::Auth
    } else if e.is_integrity() {
        Exit::Integrity
    } else {
        match e {
            Error::InvalidReference { .. } => Exit::Usage,
            Error::Transport { .. } => Exit::Unreachable,
            _ => Exit::Failure,
        }
    }
}

impl From<wharf_client::Error> for Failure {
    fn from(e: wharf_client::Error) -> Failure {
        Failure::new(exit_of(&e), e.to_string())
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_client::Error;

    #[test]
    fn library_errors_map_to_exit_codes() {
        let registry = |status| Error::Registry {
            method: "GET".into(),
            url: "http://x/v2/".into(),
            status,
            code: None,
            message: None,
        };
        assert_eq!(exit_of(&registry(404)), Exit::NotFound);
        assert_eq!(exit_of(&registry(401)), Exit::Auth);
        assert_eq!(exit_of(&registry(403)), Exit::Auth);
        assert_eq!(exit_of(&registry(500)), Exit::Failure);
        assert_eq!(exit_of(&Error::NotFound("x".into())), Exit::NotFound);
        let transport = Error::Transport {
            method: "GET".into(),
            url: "u".into(),
            message: "connection refused".into(),
        };
        assert_eq!(exit_of(&transport), Exit::Unreachable);
        let d = wharf_client::Digest::sha256_of(b"a");
        let mismatch = Error::DigestMismatch {
            what: "blob".into(),
            expected: d.clone(),
            actual: d,
        };
        assert_eq!(exit_of(&mismatch), Exit::Integrity);
        let bad: Error = "Bad/Ref".parse::<wharf_client::ImageReference>().unwrap_err();
        assert_eq!(exit_of(&bad), Exit::Usage);
    }

    #[test]
    fn messages_fit_on_one_line() {
        let f = Failure::other("first\nsecond\n  third ");
        assert_eq!(f.one_line(), "first second third");
    }
}
