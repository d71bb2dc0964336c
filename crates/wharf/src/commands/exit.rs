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
    /// The registry answered 403: it knows the caller, who may not do this.
    pub denied: bool,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            denied: false,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// A reference or location the library refused to parse: a usage error, with the
    /// hints [`From<wharf_client::Error>`] adds.
    pub fn bad_argument(e: wharf_client::Error) -> Failure {
        Failure {
            exit: Exit::Usage,
            ..Failure::from(e)
        }
    }

    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Failure, message)
    }

    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(Exit::NotFound, message)
    }

    /// The same failure, its message prefixed with what was being done; a registry
    /// that cannot be reached is the whole story, whatever was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Failure {
        if self.exit != Exit::Unreachable {
            self.message = format!("{what}: {}", self.message);
        }
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
        use wharf_client::Error;
        let exit = exit_of(&e);
        match &e {
            Error::Transport { url, message, .. } => Failure::new(exit, unreachable(url, message)),
            Error::InvalidReference { input, .. } if input.starts_with("http://") => Failure::new(
                exit,
                format!(
                    "{e} (localhost and 127.0.0.0/8 are reached over plain HTTP, other registries with --plain-http)"
                ),
            ),
            _ => Failure {
                denied: e.status() == Some(403),
                ..Failure::new(exit, e.to_string())
            },
        }
    }
}

/// A failed connection as one line that says which registry did not answer and why,
/// e.g. `no registry answers at 127.0.0.1:1 (connection refused)`, from the request's
/// URL and the error chain of the HTTP stack (`…: tcp connect error: Connection refused
/// (os error 111)`).
fn unreachable(url: &str, message: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    let lower = message.to_ascii_lowercase();
    let why = if lower.contains("connection refused") {
        "connection refused"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve"
    } else if lower.contains("timed out") || lower.contains("no answer within") {
        "no answer in time"
    } else if lower.contains("connection reset") {
        "the connection was reset"
    } else if lower.contains("unreachable") {
        "network unreachable"
    } else {
        // The last two links of the chain say what failed and how.
        let links: Vec<&str> = message.split(": ").collect();
        let cause = links[links.len().saturating_sub(2)..].join(": ");
        return format!("cannot talk to the registry at {host}: {cause}");
    };
    format!("no registry answers at {host} ({why})")
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
    fn an_unreachable_registry_is_named_once_with_the_reason() {
        let failure = |message: &str| {
            Failure::from(Error::Transport {
                method: "HEAD".into(),
                url: "http://127.0.0.1:1/v2/app/blobs/sha256:44136f".into(),
                message: message.into(),
            })
        };
        let refused = failure(
            "error sending request for url (http://127.0.0.1:1/v2/app/blobs/sha256:44136f): client error \
             (Connect): tcp connect error: Connection refused (os error 111)",
        );
        assert_eq!(refused.exit, Exit::Unreachable);
        assert_eq!(
            refused.message,
            "no registry answers at 127.0.0.1:1 (connection refused)"
        );
        assert_eq!(
            refused.context("pushing the config").message,
            "no registry answers at 127.0.0.1:1 (connection refused)"
        );
        assert_eq!(
            failure("no answer within 30s").message,
            "no registry answers at 127.0.0.1:1 (no answer in time)"
        );
        assert_eq!(
            failure("error sending request: invalid peer certificate: UnknownIssuer").message,
            "cannot talk to the registry at 127.0.0.1:1: invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn messages_fit_on_one_line() {
        let f = Failure::other("first\nsecond\n  third ");
        assert_eq!(f.one_line(), "first second third");
    }
}
