//! Grants of pull, push and delete on repository globs to users, groups, any signed-in
//! user or anonymous callers. What no rule grants is refused; grants add up, and a
//! grant on one repository says nothing about another.
//!
//! Globs are matched against the whole repository name with `globset`, where `*`
//! matches any run of characters **including `/`**: `team-a/*` matches `team-a/app`
//! and `team-a/app/web` (but not `team-a` itself), and `*` matches every repository.
//! `?` matches one character, `{a,b}` either alternative and `[a-z]` a class.

use super::{Actions, Authorizer, Identity};
use async_trait::async_trait;
use globset::{Glob, GlobSet, GlobSetBuilder};
use wharf_oci::RepositoryName;

/// Whom a rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Callers without credentials (and tokens issued to them).
    Anonymous,
    /// Any signed-in user.
    Authenticated,
    User(String),
    Group(String),
}

impl Who {
    /// `anonymous`, `authenticated`, `user:NAME` or `group:NAME`.
    pub fn parse(text: &str) -> Result<Who, String> {
        match text.trim() {
            "anonymous" => Ok(Who::Anonymous),
            "authenticated" => Ok(Who::Authenticated),
            t => match t.split_once(':') {
                Some(("user", name)) if !name.is_empty() => Ok(Who::User(name.to_string())),
                Some(("group", name)) if !name.is_empty() => Ok(Who::Group(name.to_string())),
                _ => Err(format!(
                    "{t:?} names no one: use anonymous, authenticated, user:NAME or group:NAME"
                )),
            },
        }
    }

    fn includes(&self, identity: &Identity) -> bool {
        match (self, identity.person()) {
            (Who::Anonymous, Identity::Anonymous) => true,
            (Who::Authenticated, Identity::User { .. }) => true,
            (Who::User(n), Identity::User { name, .. }) => *n == name,
            (Who::Group(g), Identity::User { groups, .. }) => groups.contains(g),
            _ => false,
        }
    }
}

/// One grant: `who` may take `actions` on repositories matching any of the globs.
#[derive(Debug, Clone)]
pub struct Rule {
    who: Vec<Who>,
    repositories: GlobSet,
    actions: Actions,
}

impl Rule {
    pub fn new(who: Vec<Who>, repository_globs: &[String], actions: Actions) -> Result<Rule, String> {
        let mut set = GlobSetBuilder::new();
        for glob in repository_globs {
            set.add(Glob::new(glob).map_err(|e| format!("repository glob {glob:?}: {e}"))?);
        }
        Ok(Rule {
            who,
            repositories: set.build().map_err(|e| e.to_string())?,
            actions,
        })
    }
}

/// The built-in [`Authorizer`]: a list of [`Rule`]s.
#[derive(Debug, Clone, Default)]
pub struct RuleAuthorizer {
    rules: Vec<Rule>,
}

impl RuleAuthorizer {
    pub fn new(rules: Vec<Rule>) -> RuleAuthorizer {
        RuleAuthorizer { rules }
    }

    /// What the rules grant, without the async trait around it.
    pub fn actions(&self, identity: &Identity, repository: &RepositoryName) -> Actions {
        self.rules
            .iter()
            .filter(|r| r.who.iter().any(|w| w.includes(identity)))
            .filter(|r| r.repositories.is_match(repository.as_str()))
            .fold(Actions::NONE, |set, r| set.union(r.actions))
    }
}

#[async_trait]
impl Authorizer for RuleAuthorizer {
    async fn granted(&self, identity: &Identity, repository: &RepositoryName) -> Actions {
        self.actions(identity, repository)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Action;

    fn name(s: &str) -> RepositoryName {
        s.parse().unwrap()
    }

    #[test]
    fn grants_add_up_per_repository() {
        let rules = RuleAuthorizer::new(vec![
            Rule::new(
                vec![Who::Group("team-a".into())],
                &["team-a/*".into()],
                Actions::of([Action::Pull, Action::Push]),
            )
            .unwrap(),
            Rule::new(vec![Who::Anonymous], &["public/*".into()], Actions::of([Action::Pull])).unwrap(),
            Rule::new(vec![Who::User("root".into())], &["*".into()], Actions::ALL).unwrap(),
        ]);
        let alice = Identity::user("alice", vec!["team-a".into()]);
        assert_eq!(rules.actions(&alice, &name("team-a/app/web")).to_string(), "pull,push");
        assert_eq!(rules.actions(&alice, &name("team-a")), Actions::NONE);
        assert_eq!(rules.actions(&alice, &name("team-b/app")), Actions::NONE);
        assert_eq!(
            rules.actions(&Identity::Anonymous, &name("public/x")).to_string(),
            "pull"
        );
        assert_eq!(rules.actions(&alice, &name("public/x")), Actions::NONE);
        assert_eq!(
            rules.actions(&Identity::user("root", vec![]), &name("a/b/c")),
            Actions::ALL
        );
        assert!(Who::parse("nobody").is_err());
        assert_eq!(Who::parse("group:x").unwrap(), Who::Group("x".into()));
    }
}
