//! Repository names, tags and the `<tag-or-digest>` reference, per the spec's grammar.

use crate::digest::{Digest, DigestError};
use regex::Regex;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

/// Longest repository name accepted. The spec notes that clients limit
/// `host[:port]/name` to 255 characters; wharf takes 255 for the name alone.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag the spec allows.
pub const MAX_TAG_LEN: usize = 128;

static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
        .expect("the spec's name grammar is a valid regex")
});

static TAG_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("the spec's tag grammar is a valid regex")
});

/// Why a name, tag or reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name must be at most {MAX_NAME_LEN} characters")]
    NameTooLong,
    #[error(
        "invalid repository name {0:?}: use lowercase letters and digits, separated by '.', '_', '__', '-' or '/'"
    )]
    InvalidName(String),
    #[error("invalid tag {0:?}: at most 128 characters of [A-Za-z0-9._-], not starting with '.' or '-'")]
    InvalidTag(String),
    #[error(transparent)]
    InvalidDigest(#[from] DigestError),
}

/// A repository name such as `app` or `org/team/app`, valid by the spec's grammar.
/// Its segments never contain `.`-only parts, `%` or `\`, so it is safe as a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepositoryName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        if !NAME_RE.is_match(s) {
            return Err(NameError::InvalidName(printable(s)));
        }
        Ok(RepositoryName(s.to_string()))
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag, valid by the spec's grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !TAG_RE.is_match(s) {
            return Err(NameError::InvalidTag(printable(s)));
        }
        Ok(Tag(s.to_string()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `<tag-or-digest>` of a manifest URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = NameError;
    /// A reference with a `:` is a digest (tags cannot hold one); anything else a tag.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// Shortens and escapes user input before it goes into an error message.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_of_any_depth() {
        for good in [
            "app",
            "org/app",
            "org/team/project/app",
            "a.b_c__d---e/f0",
            "library/ubuntu",
        ] {
            assert!(good.parse::<RepositoryName>().is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_traversal_and_malformed_names() {
        let long = "a".repeat(256);
        for bad in [
            "",
            "..",
            "../etc",
            "a/../b",
            "a/./b",
            "/abs",
            "a/",
            "A",
            "a%2e%2e",
            "a%2fb",
            "a\0b",
            "a//b",
            "a___b",
            "-a",
            "a.",
            long.as_str(),
        ] {
            assert!(bad.parse::<RepositoryName>().is_err(), "{bad:?} was accepted");
        }
        assert!("a".repeat(255).parse::<RepositoryName>().is_ok());
    }

    #[test]
    fn tags_follow_the_grammar() {
        assert!("latest".parse::<Tag>().is_ok());
        assert!("_x.Y-1".parse::<Tag>().is_ok());
        assert!("a".repeat(128).parse::<Tag>().is_ok());
        for bad in ["", ".a", "-a", "a/b", "a:b", "a b", &"a".repeat(129)] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(_))));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(d.parse::<Reference>(), Ok(Reference::Digest(_))));
        assert!(matches!(
            "sha256:zz".parse::<Reference>(),
            Err(NameError::InvalidDigest(_))
        ));
    }
}
