//! Tag lists and referrers of repositories under an upstream's prefix.
//!
//! Tag list: the upstream's tags merged with those cached here (tags that were pushed
//! where pushes are allowed, or that the upstream has since removed), when the upstream
//! answers; the cached ones alone when it does not. Referrers: the upstream's, merged
//! with the ones stored here, when it answers; the stored ones alone otherwise.

use super::super::{Listing, Registry, RegistryResult, MAX_PAGE};
use std::collections::BTreeSet;
use wharf_oci::{Digest, ErrorCode, RepositoryName};

impl Registry {
    /// Tags of `name` after `last`, at most `n`, through its upstream when it has one.
    pub async fn list_tags_or_pull(
        &self,
        name: &RepositoryName,
        n: Option<usize>,
        last: Option<&str>,
    ) -> RegistryResult<Listing> {
        let Some((route, upstream_name)) = self.upstreams.route(name).filter(|_| n != Some(0)) else {
            return self.list_tags(name, n, last).await;
        };
        let upstream = match route.source.tags(&upstream_name).await {
            Ok(tags) => tags,
            Err(e) => {
                tracing::warn!(repository = %name, upstream = %route.source.describe(), "listing the cached tags only: {e}");
                return self.list_tags(name, n, last).await;
            }
        };
        let mut all: BTreeSet<String> = upstream.into_iter().collect();
        let mut after: Option<String> = None;
        loop {
            match self.list_tags(name, Some(MAX_PAGE), after.as_deref()).await {
                Ok(page) => {
                    let more = page.next_n.is_some();
                    after = page.items.last().cloned();
                    all.extend(page.items);
                    if !more {
                        break;
                    }
                }
                Err(e) if e.code == Some(ErrorCode::NameUnknown) => break,
                Err(e) => return Err(e),
            }
        }
        let limit = n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let mut items: Vec<String> = all
            .into_iter()
            .filter(|t| last.is_none_or(|last| t.as_str() > last))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Listing {
            items,
            next_n: more.then_some(limit),
        })
    }

    /// Referrers of `subject` from the upstream (unfiltered descriptors), when `name`
    /// pulls through one and it answers.
    pub async fn upstream_referrers(&self, name: &RepositoryName, subject: &Digest) -> Option<Vec<serde_json::Value>> {
        let (route, upstream_name) = self.upstreams.route(name)?;
        match route.source.referrers(&upstream_name, subject).await {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::warn!(repository = %name, %subject, upstream = %route.source.describe(), "listing the stored referrers only: {e}");
                None
            }
        }
    }
}
