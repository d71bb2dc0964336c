//! Pull-through: repositories under an upstream's prefix (see [`crate::upstream`]) are
//! filled from the upstream on a miss, and then served like pushed content.
//!
//! - A blob not held is downloaded once however many requests want it ([`fetch`]):
//!   streamed to every one of them while it is written to an upload, verified against
//!   its digest, and only then committed and linked into the repository.
//! - A manifest by digest is fetched, verified and stored for good; a tag is fetched
//!   and then checked with a HEAD upstream once its TTL has passed ([`manifests`]).
//! - Pushes into a prefix are refused unless the upstream allows them.

mod evict;
mod fetch;
mod listing;
mod manifests;
#[cfg(test)]
mod tests;

use super::{BlobInfo, Registry, RegistryError, RegistryResult};
use crate::storage::ByteStream;
use crate::upstream::{UpstreamError, UpstreamRoute};
pub use evict::EvictionReport;
use fetch::Fetch;
use std::sync::Arc;
use wharf_oci::{Digest, ErrorCode, RepositoryName};

/// A blob as a read finds it: stored, or being pulled from an upstream.
pub enum BlobAnswer {
    Stored(BlobInfo),
    /// A download from the upstream, shared with other readers: `size` when the
    /// upstream announced one; the stream ends in an error if the bytes fail their
    /// digest, before the last byte is given.
    Pulling {
        size: Option<u64>,
        stream: ByteStream,
    },
}

/// The pull-through state of one registry process.
#[derive(Default)]
pub(crate) struct PullThrough {
    /// Blob fetches in progress, by repository and digest.
    fetches: std::sync::Mutex<std::collections::HashMap<String, Arc<Fetch>>>,
    /// When each tag was last fetched or confirmed upstream.
    checked: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// One manifest fetch per repository and reference at a time.
    manifest_locks: super::locks::KeyedLocks,
}

/// The answer for an upstream that could not give `what`.
pub(crate) fn upstream_error(route: &UpstreamRoute, what: &str, error: UpstreamError) -> RegistryError {
    let upstream = route.source.describe();
    match error {
        UpstreamError::NotFound(why) => {
            let code = if what.starts_with("blob") {
                ErrorCode::BlobUnknown
            } else {
                ErrorCode::ManifestUnknown
            };
            RegistryError::new(
                code,
                format!("{what} is not cached and the upstream {upstream} does not have it ({why})"),
            )
        }
        UpstreamError::Unavailable(why) => gateway_error(
            503,
            format!("{what} is not cached and the upstream {upstream} is unavailable ({why}); try again later"),
        ),
        UpstreamError::Failed(why) => gateway_error(
            502,
            format!("{what} is not cached and the upstream {upstream} refused or failed ({why})"),
        ),
    }
}

/// An upstream's failure: no spec code fits (the body says `UNKNOWN`), the status says
/// it is the gateway's.
fn gateway_error(status: u16, message: String) -> RegistryError {
    RegistryError {
        code: None,
        status,
        message,
        detail: None,
        upload: None,
    }
}

impl Registry {
    /// Whether `name` is under an upstream's prefix.
    pub fn pulls_through(&self, name: &RepositoryName) -> bool {
        self.upstreams.route(name).is_some()
    }

    /// DENIED for a push into an upstream's prefix that does not allow pushes.
    pub fn admit_push(&self, name: &RepositoryName) -> RegistryResult<()> {
        match self.upstreams.route(name) {
            Some((route, _)) if !route.allow_push => Err(RegistryError::new(
                ErrorCode::Denied,
                format!(
                    "{name} is a pull-through cache of {} (prefix {}): pushes into it are not allowed (allow_push = false)",
                    route.source.describe(),
                    route.prefix
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The blob as [`Registry::blob`] finds it, or, for a repository under an upstream's
    /// prefix that lacks it, a download from the upstream (joined if one is running).
    pub async fn blob_or_pull(self: &Arc<Self>, name: &RepositoryName, digest: &Digest) -> RegistryResult<BlobAnswer> {
        let missing = match self.blob(name, digest).await {
            Ok(blob) => return Ok(BlobAnswer::Stored(blob)),
            Err(e) if e.code == Some(ErrorCode::BlobUnknown) => e,
            Err(e) => return Err(e),
        };
        let Some((route, upstream_name)) = self.upstreams.route(name) else {
            return Err(missing);
        };
        let fetch = self.join_fetch(route, name, &upstream_name, digest);
        let size = fetch.started().await?;
        Ok(BlobAnswer::Pulling {
            size,
            stream: fetch.reader(),
        })
    }

    /// The size of a blob `name` lacks, as its upstream says with a HEAD (nothing is
    /// cached by a HEAD); `None` when `name` pulls through nothing.
    pub async fn upstream_blob_size(&self, name: &RepositoryName, digest: &Digest) -> RegistryResult<Option<u64>> {
        let Some((route, upstream_name)) = self.upstreams.route(name) else {
            return Ok(None);
        };
        let what = format!("blob {digest}");
        match route.source.blob_size(&upstream_name, digest).await {
            Ok(Some(size)) => Ok(Some(size)),
            Ok(None) => Err(upstream_error(route, &what, UpstreamError::NotFound("404".into()))),
            Err(e) => Err(upstream_error(route, &what, e)),
        }
    }

    /// The running fetch of `digest` into `name`, or a new one.
    fn join_fetch(
        self: &Arc<Self>,
        route: &UpstreamRoute,
        name: &RepositoryName,
        upstream_name: &RepositoryName,
        digest: &Digest,
    ) -> Arc<Fetch> {
        let key = format!("{name}@{digest}");
        let mut fetches = self.pull_through.fetches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fetch) = fetches.get(&key).filter(|f| !f.failed()) {
            return fetch.clone();
        }
        let fetch = Fetch::new(digest.clone(), self.blobs.clone());
        fetches.insert(key.clone(), fetch.clone());
        drop(fetches);
        let (registry, route, name, upstream_name, task_fetch) = (
            self.clone(),
            route.clone(),
            name.clone(),
            upstream_name.clone(),
            fetch.clone(),
        );
        tokio::spawn(async move {
            registry.pull_blob(&route, &name, &upstream_name, &task_fetch).await;
            let mut fetches = registry.pull_through.fetches.lock().unwrap_or_else(|p| p.into_inner());
            if fetches.get(&key).is_some_and(|f| Arc::ptr_eq(f, &task_fetch)) {
                fetches.remove(&key);
            }
        });
        fetch
    }

    /// Asks the upstream for the blob and streams it into an upload (see [`fetch`]).
    async fn pull_blob(
        self: &Arc<Self>,
        route: &UpstreamRoute,
        name: &RepositoryName,
        upstream_name: &RepositoryName,
        fetch: &Arc<Fetch>,
    ) {
        let digest = fetch.digest.clone();
        // The request that started this fetch found the blob missing; a fetch that
        // committed it may have left the table between that look-up and this fetch's
        // start. Serve what it stored rather than ask the upstream again.
        if let Ok(stored) = self.blob(name, &digest).await {
            return fetch.serve_stored(stored.size);
        }
        let blob = match route.source.blob(upstream_name, &digest).await {
            Ok(blob) => blob,
            Err(e) => {
                crate::metrics::pull_through_fetch("blob", false);
                return fetch.fail(upstream_error(route, &format!("blob {digest}"), e));
            }
        };
        let session = match self.open_session(name, digest.algorithm()).await {
            Ok(session) => session,
            Err(e) => return fetch.fail(e),
        };
        tracing::info!(repository = %name, %digest, size = ?blob.size, upstream = %route.source.describe(), "pulling a blob through");
        fetch::run(self.clone(), fetch.clone(), name.clone(), session.id, blob).await;
    }
}
