//! Globs over repository names and tags.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// A set of globs, kept with their text for messages. Matches when any glob matches
/// the whole string. As in the access rules, `*` matches any run of characters,
/// `/` included (`prod/*` matches `prod/app` and `prod/team/app`; so does `prod/**`).
#[derive(Debug, Clone)]
pub struct Globs {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Globs, String> {
        if patterns.is_empty() {
            return Err("a list of globs must not be empty".into());
        }
        let mut set = GlobSetBuilder::new();
        for p in patterns {
            let p = p.as_ref();
            set.add(Glob::new(p).map_err(|e| format!("glob {p:?}: {e}"))?);
        }
        Ok(Globs {
            patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect(),
            set: set.build().map_err(|e| e.to_string())?,
        })
    }

    pub fn matches(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// The globs as written, joined for a message (`"prod/**", "v*"`).
    pub fn describe(&self) -> String {
        self.patterns
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
