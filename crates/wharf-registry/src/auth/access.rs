//! What a caller may do: the actions on a repository and the scope strings of the Docker
//! token protocol that name them (`repository:team/app:pull,push`, `registry:catalog:*`).

use serde::{Deserialize, Serialize};
use std::fmt;
use wharf_oci::RepositoryName;

/// One thing a caller may do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and push manifests and tags.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// The action a scope or config names; `None` for words wharf does not know, which
    /// a scope may carry (clients send e.g. `*`, handled by [`Actions::parse`]).
    pub fn parse(word: &str) -> Option<Action> {
        match word.trim() {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Action`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const ALL: Actions = Actions(7);

    pub fn of(actions: impl IntoIterator<Item = Action>) -> Actions {
        actions.into_iter().fold(Actions::NONE, |set, a| set.with(a))
    }

    pub fn with(self, action: Action) -> Actions {
        Actions(self.0 | action.bit())
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Whether every action of `other` is in `self`.
    pub fn covers(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn intersection(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// `pull,push`, `*` (everything) and unknown words (ignored) as scopes carry them.
    pub fn parse(list: &str) -> Actions {
        list.split(',').fold(Actions::NONE, |set, word| match word.trim() {
            "*" => Actions::ALL,
            w => Action::parse(w).map_or(set, |a| set.with(a)),
        })
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.iter().map(Action::as_str).collect();
        f.write_str(&words.join(","))
    }
}

/// What a scope is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `repository:NAME:…`
    Repository(RepositoryName),
    /// `registry:catalog:*`: listing `/v2/_catalog`.
    Catalog,
}

/// Actions on one resource: a scope requested from the token endpoint, an entry of a
/// token's `access` claim, or what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub resource: Resource,
    pub actions: Actions,
}

impl Access {
    pub fn repository(name: RepositoryName, actions: Actions) -> Access {
        Access {
            resource: Resource::Repository(name),
            actions,
        }
    }

    pub fn catalog() -> Access {
        Access {
            resource: Resource::Catalog,
            actions: Actions::ALL,
        }
    }

    /// Parses one scope. `None` for scopes wharf has nothing to grant for (another
    /// resource type, an invalid repository name): the token endpoint leaves them out
    /// rather than answering with an error that would tell what exists.
    pub fn parse_scope(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.trim().split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        // `repository(plugin):name:pull`: the resource class in parentheses is ignored.
        let kind = kind.split('(').next().unwrap_or(kind);
        match kind {
            "repository" => Some(Access::repository(name.parse().ok()?, Actions::parse(actions))),
            "registry" if name == "catalog" => Some(Access::catalog()),
            _ => None,
        }
    }

    /// Every scope of a `scope` parameter, which may hold several separated by spaces.
    pub fn parse_scopes<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Access> {
        values
            .into_iter()
            .flat_map(str::split_whitespace)
            .filter_map(Access::parse_scope)
            .collect()
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource {
            Resource::Repository(name) => write!(f, "repository:{name}:{}", self.actions),
            Resource::Catalog => f.write_str("registry:catalog:*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_scopes() {
        let a = Access::parse_scope("repository:team/app:pull,push").unwrap();
        assert_eq!(a.to_string(), "repository:team/app:pull,push");
        assert_eq!(Access::parse_scope("repository:x:*").unwrap().actions, Actions::ALL);
        assert_eq!(
            Access::parse_scope("repository(plugin):x:pull").unwrap().to_string(),
            "repository:x:pull"
        );
        assert_eq!(Access::parse_scope("registry:catalog:*").unwrap(), Access::catalog());
        assert_eq!(Access::catalog().to_string(), "registry:catalog:*");
        assert_eq!(
            Access::parse_scope("repository:x:frobnicate").unwrap().actions,
            Actions::NONE
        );
        for bad in [
            "",
            "repository",
            "repository:x",
            "repository:UPPER:pull",
            "other:x:pull",
        ] {
            assert_eq!(Access::parse_scope(bad), None, "{bad}");
        }
        let many = Access::parse_scopes(["repository:a:pull repository:b:push", "registry:catalog:*"]);
        assert_eq!(many.len(), 3);
    }

    #[test]
    fn action_sets() {
        let pp = Actions::of([Action::Pull, Action::Push]);
        assert!(pp.covers(Actions::of([Action::Pull])));
        assert!(!pp.covers(Actions::ALL));
        assert_eq!(
            pp.intersection(Actions::of([Action::Push, Action::Delete])).to_string(),
            "push"
        );
        assert_eq!(Actions::ALL.to_string(), "pull,push,delete");
    }
}
