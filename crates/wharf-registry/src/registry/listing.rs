//! Tag lists and the catalog, paginated with `n` and `last`.

use super::{Registry, RegistryResult};
use crate::meta::Page;
use wharf_oci::RepositoryName;

/// Most entries one page may hold; a larger `n` gets this many and a `Link` to more.
pub const MAX_PAGE: usize = 10_000;

/// One page of a listing, and whether another follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub items: Vec<String>,
    /// The `n` to repeat in the next page's link, when one follows.
    pub next_n: Option<usize>,
}

fn listing(page: Page, n: Option<usize>) -> Listing {
    let next_n = page.more.then(|| n.unwrap_or(MAX_PAGE).min(MAX_PAGE));
    Listing {
        items: page.items,
        next_n,
    }
}

impl Registry {
    /// Tags of `name` after `last`, at most `n` (end-8a, end-8b); NAME_UNKNOWN for a
    /// repository the registry does not know.
    ///
    /// A page that holds tags shows that the repository exists, so only an empty one
    /// asks the metadata store about the repository as well: a walk through a long list
    /// costs one lookup per page.
    pub async fn list_tags(
        &self,
        name: &RepositoryName,
        n: Option<usize>,
        last: Option<&str>,
    ) -> RegistryResult<Listing> {
        if n == Some(0) {
            self.require_repository(name).await?;
            return Ok(Listing {
                items: Vec::new(),
                next_n: None,
            });
        }
        let limit = n.map(|n| n.min(MAX_PAGE));
        let page = self.meta.list_tags(name, last, limit).await?;
        if page.items.is_empty() {
            self.require_repository(name).await?;
        }
        Ok(listing(page, n))
    }

    /// Repository names after `last`, at most `n` (`/v2/_catalog`).
    pub async fn catalog(&self, n: Option<usize>, last: Option<&str>) -> RegistryResult<Listing> {
        if n == Some(0) {
            return Ok(Listing {
                items: Vec::new(),
                next_n: None,
            });
        }
        let limit = Some(n.unwrap_or(MAX_PAGE).min(MAX_PAGE));
        Ok(listing(self.meta.list_repositories(last, limit).await?, n))
    }
}
