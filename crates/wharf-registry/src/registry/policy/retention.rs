//! Retention: per repository glob, which tags to keep; the others are untagged, and
//! the garbage collector then removes what only they kept (after its grace period).
//!
//! A tag is kept when any of the policy's rules keeps it: it is one of the `keep_last`
//! newest, or younger than `keep_newer_than`, or its manifest was pulled within
//! `not_pulled_for`, or it matches `keep_tags`, or is immutable (see
//! [`super::ImmutableTags`]). A tag's age is that of its manifest's last push (pushing
//! a manifest again, under any tag, makes each of its tags new again). A manifest's
//! last pull is the last GET of it from the repository, by tag or digest, as the
//! registry records pulls (in batches, see [`crate::meta::Pull`]; the pulls this
//! process served are flushed before a pass); a manifest never pulled counts from its
//! push. Retention only untags: a manifest a kept tag points at stays, and so do its
//! referrers (signatures, attestations), which the collector keeps while their subject
//! is there. Each
//! tag is removed only if it still points at the manifest the policy judged
//! ([`crate::meta::MetaStore::delete_tag_at`]): a tag moved meanwhile is left alone.

use super::Globs;
use crate::registry::{Registry, RegistryResult};
use regex::Regex;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};
use wharf_oci::{Digest, RepositoryName, Tag};

/// Which tags of the repositories matching `repositories` to keep. Where several
/// policies match a repository, the first applies. A policy that keeps neither by
/// count, nor by age, nor by pulls does nothing (it would untag everything `keep_tags`
/// does not name).
#[derive(Debug, Clone)]
pub struct Retention {
    pub repositories: Globs,
    /// Keep the newest N tags.
    pub keep_last: Option<usize>,
    /// Keep tags pushed within this long.
    pub keep_newer_than: Option<Duration>,
    /// Keep tags whose manifest was pulled (or, never pulled, pushed) within this long:
    /// the others are removed as "not pulled for" that long.
    pub not_pulled_for: Option<Duration>,
    /// Keep the tags this matches, whatever their age.
    pub keep_tags: Option<Regex>,
}

impl Retention {
    pub fn new<S: AsRef<str>>(repositories: &[S]) -> Result<Retention, String> {
        Ok(Retention {
            repositories: Globs::new(repositories)?,
            keep_last: None,
            keep_newer_than: None,
            not_pulled_for: None,
            keep_tags: None,
        })
    }

    pub fn keep_last(mut self, n: usize) -> Retention {
        self.keep_last = Some(n);
        self
    }

    pub fn keep_newer_than(mut self, age: Duration) -> Retention {
        self.keep_newer_than = Some(age);
        self
    }

    /// Removes tags whose manifest was not pulled for `idle` (nor pushed: a manifest
    /// never pulled counts from its push), unless another rule keeps them.
    pub fn not_pulled_for(mut self, idle: Duration) -> Retention {
        self.not_pulled_for = Some(idle);
        self
    }

    /// Keeps tags the regular expression matches (anchor it, `^…$`, to match whole tags).
    pub fn keep_tags(mut self, pattern: &str) -> Result<Retention, String> {
        let re = Regex::new(pattern).map_err(|e| format!("keep_tags {pattern:?}: {e}"))?;
        self.keep_tags = Some(re);
        Ok(self)
    }

    /// Whether the policy removes anything at all (it keeps by count, by age or by
    /// pulls).
    pub fn is_effective(&self) -> bool {
        self.keep_last.is_some() || self.keep_newer_than.is_some() || self.not_pulled_for.is_some()
    }
}

/// A tag a retention pass removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UntaggedTag {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// Seconds since its manifest was pushed.
    pub age_seconds: u64,
    /// Seconds since its manifest was last pulled (or, never pulled, pushed).
    pub unpulled_seconds: u64,
}

/// The outcome of [`Registry::apply_retention`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// Repositories a policy applied to.
    pub repositories: u64,
    pub tags_kept: u64,
    pub untagged: Vec<UntaggedTag>,
    pub took_ms: u64,
}

/// A tag as retention judges it.
struct Judged {
    tag: Tag,
    digest: Digest,
    pushed: SystemTime,
    /// The later of its manifest's last pull and push.
    used: SystemTime,
}

impl Registry {
    /// Removes `tag` if it still points at `digest`, announced (with events on) as a
    /// `tag.deleted` by the `retention` actor in the removal's own transaction.
    async fn untag(&self, repo: &RepositoryName, tag: &Tag, digest: &Digest) -> RegistryResult<bool> {
        let change = crate::meta::Change::DeleteTag {
            repo,
            tag,
            at: Some(digest),
        };
        let actor = Some(crate::events::RETENTION_ACTOR.to_string());
        Ok(crate::events::with_actor(actor, self.apply(change)).await?)
    }

    /// Applies the retention policies once (see [`self`]); with `dry_run`, only reports
    /// what would go. Untagged manifests go with the next garbage collection.
    pub async fn apply_retention(&self, dry_run: bool) -> RegistryResult<RetentionReport> {
        let started = Instant::now();
        let mut report = RetentionReport {
            dry_run,
            ..RetentionReport::default()
        };
        let policies = &self.config.policies;
        if !policies.retention.iter().any(Retention::is_effective) {
            return Ok(report);
        }
        // Pulls served by this process count: written first.
        if let Err(e) = self.flush_pulls().await {
            tracing::warn!("pull times not written before retention: {}", e.message);
        }
        let snapshot = self.meta.gc_snapshot().await?;
        let pushed: HashMap<(&RepositoryName, &Digest), SystemTime> = snapshot
            .manifests
            .iter()
            .map(|m| ((&m.repository, &m.digest), m.created))
            .collect();
        let pulled: HashMap<(&RepositoryName, &Digest), SystemTime> = snapshot
            .links
            .iter()
            .filter_map(|l| Some(((&l.repository, &l.digest), l.pulled?)))
            .collect();
        let now = SystemTime::now();
        let repositories = self.meta.list_repositories(None, None).await?.items;
        for name in repositories {
            let Ok(repo) = name.parse::<RepositoryName>() else {
                continue;
            };
            let Some(policy) = policies.retention.iter().find(|p| p.repositories.matches(&name)) else {
                continue;
            };
            if !policy.is_effective() {
                continue;
            }
            report.repositories += 1;
            let mut tags = Vec::new();
            for tag in self.meta.list_tags(&repo, None, None).await?.items {
                let Ok(tag) = tag.parse::<Tag>() else { continue };
                let Some(manifest) = self.meta.tagged_manifest(&repo, &tag).await? else {
                    continue;
                };
                // A manifest pushed after the snapshot is as new as can be.
                let when = pushed.get(&(&repo, &manifest.digest)).copied().unwrap_or(now);
                let used = pulled.get(&(&repo, &manifest.digest)).map_or(when, |p| when.max(*p));
                tags.push(Judged {
                    tag,
                    digest: manifest.digest,
                    pushed: when,
                    used,
                });
            }
            tags.sort_by(|a, b| b.pushed.cmp(&a.pushed).then_with(|| a.tag.as_str().cmp(b.tag.as_str())));
            for (rank, judged) in tags.into_iter().enumerate() {
                let age = now.duration_since(judged.pushed).unwrap_or_default();
                let unpulled = now.duration_since(judged.used).unwrap_or_default();
                let kept = policy.keep_last.is_some_and(|n| rank < n)
                    || policy.keep_newer_than.is_some_and(|max| age < max)
                    || policy.not_pulled_for.is_some_and(|idle| unpulled < idle)
                    || policy
                        .keep_tags
                        .as_ref()
                        .is_some_and(|re| re.is_match(judged.tag.as_str()))
                    || policies.immutable_rule(&repo, judged.tag.as_str()).is_some();
                if kept {
                    report.tags_kept += 1;
                    continue;
                }
                let removed = dry_run || self.untag(&repo, &judged.tag, &judged.digest).await?;
                if removed {
                    report.untagged.push(UntaggedTag {
                        repository: name.clone(),
                        tag: judged.tag.to_string(),
                        digest: judged.digest.to_string(),
                        age_seconds: age.as_secs(),
                        unpulled_seconds: unpulled.as_secs(),
                    });
                }
            }
        }
        report.took_ms = started.elapsed().as_millis() as u64;
        if !dry_run && !report.untagged.is_empty() {
            tracing::info!(untagged = report.untagged.len(), "retention removed tags");
        }
        Ok(report)
    }
}
