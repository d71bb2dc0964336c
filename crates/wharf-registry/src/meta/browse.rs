//! What the metadata store tells a browsing person (the web UI) in one call each, where
//! the protocol's calls would take one round trip per tag.

use super::ManifestRecord;
use std::time::SystemTime;

/// A tag with the manifest it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDetail {
    pub tag: String,
    pub manifest: ManifestRecord,
    /// When the manifest was last pushed, where the store records it.
    pub pushed: Option<SystemTime>,
}

/// A manifest of a repository with the time it was last pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestDetail {
    pub manifest: ManifestRecord,
    pub pushed: Option<SystemTime>,
}

/// How many tags a repository has and when something was last pushed to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepositorySummary {
    pub tags: u64,
    pub last_push: Option<SystemTime>,
}

/// How a repository's tags are listed a page at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagOrder {
    /// By name, in byte order.
    #[default]
    Name,
    /// Newest push of the tag first; tags pushed in the same millisecond by name.
    Pushed,
}

/// Where the next page of tags starts: just after this tag (keyset pagination, so any
/// page costs what the first does, and tags pushed meanwhile neither repeat nor skip
/// an entry of the pages that follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCursor {
    /// The last tag of the page before.
    pub tag: String,
    /// Its push time in milliseconds since the epoch (0 when unknown), read only in
    /// [`TagOrder::Pushed`].
    pub pushed_ms: i64,
}

impl TagCursor {
    /// The cursor that continues after `detail`.
    pub fn after(detail: &TagDetail) -> TagCursor {
        TagCursor {
            tag: detail.tag.clone(),
            pushed_ms: detail.pushed.map(millis).unwrap_or(0),
        }
    }

    /// Whether a tag pushed at `pushed_ms` named `tag` comes after this cursor in `order`.
    pub fn precedes(&self, order: TagOrder, tag: &str, pushed_ms: i64) -> bool {
        match order {
            TagOrder::Name => tag > self.tag.as_str(),
            TagOrder::Pushed => pushed_ms < self.pushed_ms || (pushed_ms == self.pushed_ms && tag > self.tag.as_str()),
        }
    }
}

/// Milliseconds since the epoch (0 before it).
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sorts `tags` in `order` and keeps the page after `after` (the default
/// [`super::MetaStore::tag_page`], for stores without an index to seek).
pub fn page_of_tags(
    mut tags: Vec<TagDetail>,
    order: TagOrder,
    after: Option<&TagCursor>,
    limit: usize,
) -> Vec<TagDetail> {
    let key = |t: &TagDetail| t.pushed.map(millis).unwrap_or(0);
    match order {
        TagOrder::Name => tags.sort_by(|a, b| a.tag.cmp(&b.tag)),
        TagOrder::Pushed => tags.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.tag.cmp(&b.tag))),
    }
    tags.into_iter()
        .filter(|t| after.is_none_or(|c| c.precedes(order, &t.tag, key(t))))
        .take(limit)
        .collect()
}
