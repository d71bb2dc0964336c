//! Tag and repository listings, following `Link` pagination to the end.

use crate::auth::Scopes;
use crate::client::{header_str, read_limited, Call, Client};
use crate::error::{Error, Result};
use crate::reference::Repository;
use http::Method;
use std::collections::HashSet;
use wharf_oci::Endpoint;

/// No listing is followed past this many pages (a registry sending links in a circle
/// must not keep the client forever).
const MAX_PAGES: usize = 100_000;
/// Largest page document accepted.
const MAX_PAGE_SIZE: usize = 16 * 1024 * 1024;

impl Client {
    /// Every tag of the repository, in the registry's order, asking for pages of
    /// `page_size` (the registry's default when `None`).
    pub async fn list_tags(&self, repo: &Repository, page_size: Option<u32>) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(
            &repo.registry,
            &Endpoint::Tags {
                name: repo.name.clone(),
            },
        );
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let scopes = Scopes::repository(repo.name.as_str(), "pull");
        let mut tags = Vec::new();
        self.walk_pages(&repo.registry, url, scopes, |bytes| {
            let page: Page = serde_json::from_slice(bytes)
                .map_err(|e| Error::Protocol(format!("{repo}: the tag list is not valid JSON: {e}")))?;
            tags.extend(page.tags.unwrap_or_default());
            Ok(())
        })
        .await?;
        Ok(tags)
    }

    /// Every repository the registry lists in `_catalog`.
    pub async fn catalog(&self, registry: &str, page_size: Option<u32>) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            repositories: Option<Vec<String>>,
        }
        let mut url = self.url(registry, &Endpoint::Catalog);
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let mut repositories = Vec::new();
        self.walk_pages(registry, url, Scopes::catalog(), |bytes| {
            let page: Page = serde_json::from_slice(bytes)
                .map_err(|e| Error::Protocol(format!("{registry}: the catalog is not valid JSON: {e}")))?;
            repositories.extend(page.repositories.unwrap_or_default());
            Ok(())
        })
        .await?;
        Ok(repositories)
    }

    async fn walk_pages(
        &self,
        registry: &str,
        first: url::Url,
        scopes: Scopes,
        mut each: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut next = Some(first);
        let mut seen = HashSet::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.to_string()) || seen.len() > MAX_PAGES {
                return Err(Error::Protocol(format!(
                    "{registry}: the listing's Link headers lead in a circle or go on past {MAX_PAGES} pages"
                )));
            }
            let call = Call::new(registry, Method::GET, url, scopes.clone());
            let response = self.send(&call).await?;
            if !response.status().is_success() {
                return Err(self.error_from(&call, response).await);
            }
            let link = header_str(&response, "link").and_then(next_link).map(str::to_string);
            each(&read_limited(response, MAX_PAGE_SIZE).await?)?;
            if let Some(link) = link {
                next = Some(self.resolve_location(&call.url, &link)?);
            }
        }
        Ok(())
    }
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288).
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<http://x/prev>; rel="prev", <http://x/next>; rel=next"#),
            Some("http://x/next")
        );
        assert_eq!(next_link(r#"</v2/a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
