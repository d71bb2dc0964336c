//! Immutable tags: once pushed, a tag the rule names never moves to another manifest
//! and is never deleted (pushing the same manifest under it again is fine).
//!
//! The check is the metadata store's, in the transaction that would move the tag
//! ([`crate::meta::MetaStore::put_manifest_fixed_tags`],
//! [`crate::meta::MetaStore::delete_manifest_fixed_tags`]), so two pushes racing for
//! the same new tag cannot both win. A refusal is `403 DENIED` naming the rule.

use super::{Globs, Policies};
use crate::meta::TagFilter;
use crate::registry::RegistryError;
use std::sync::Arc;
use wharf_oci::{Digest, ErrorCode, RepositoryName, Tag};

/// Tags matching `tags` in repositories matching `repositories` are immutable.
#[derive(Debug, Clone)]
pub struct ImmutableTags {
    pub repositories: Globs,
    pub tags: Globs,
}

impl ImmutableTags {
    pub fn new<S: AsRef<str>>(repositories: &[S], tags: &[S]) -> Result<ImmutableTags, String> {
        Ok(ImmutableTags {
            repositories: Globs::new(repositories)?,
            tags: Globs::new(tags)?,
        })
    }

    fn describe(&self) -> String {
        format!(
            "immutable tags {} in repositories {}",
            self.tags.describe(),
            self.repositories.describe()
        )
    }
}

impl Policies {
    /// The rule that makes `tag` of `repo` immutable, if one does.
    pub fn immutable_rule(&self, repo: &RepositoryName, tag: &str) -> Option<&ImmutableTags> {
        self.immutable_tags
            .iter()
            .find(|rule| rule.repositories.matches(repo.as_str()) && rule.tags.matches(tag))
    }

    /// Whether `repo` has any immutable tags at all (most have none: no guard needed).
    pub(crate) fn has_immutable_tags(&self, repo: &RepositoryName) -> bool {
        self.immutable_tags
            .iter()
            .any(|r| r.repositories.matches(repo.as_str()))
    }

    /// The guard handed to the metadata store for `repo`'s tags.
    pub(crate) fn immutable_filter(&self, repo: &RepositoryName) -> TagFilter {
        let rules: Vec<ImmutableTags> = self
            .immutable_tags
            .iter()
            .filter(|r| r.repositories.matches(repo.as_str()))
            .cloned()
            .collect();
        Arc::new(move |tag| rules.iter().any(|r| r.tags.matches(tag)))
    }

    /// 403 DENIED for a change that would move or delete an immutable tag.
    pub(crate) fn immutable_refusal(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        current: Option<&Digest>,
    ) -> RegistryError {
        let rule = self
            .immutable_rule(repo, tag.as_str())
            .map(ImmutableTags::describe)
            .unwrap_or_else(|| "an immutable-tags rule".into());
        let what = match current {
            Some(d) => format!("tag {tag} of {repo} is immutable (it points at {d})"),
            None => format!("tag {tag} of {repo} is immutable"),
        };
        RegistryError::new(
            ErrorCode::Denied,
            format!("{what}: it cannot be moved or deleted, by the rule {rule}; push under a new tag"),
        )
        .with_detail(serde_json::json!({ "tag": tag.as_str(), "rule": rule }))
    }
}
