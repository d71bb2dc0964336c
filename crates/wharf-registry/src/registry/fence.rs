//! The push side of garbage collection: a blob is claimed in the metadata store before
//! its bytes are committed, so a collector never removes bytes a push is storing.

use super::{Registry, RegistryError, RegistryResult};
use crate::meta::BlobClaim;
use std::time::Duration;
use wharf_oci::Digest;

/// How often a push asks again while the collector removes the blob it pushes.
const FENCE_POLL: Duration = Duration::from_millis(20);
/// How long a push waits for that removal (a delete of one blob's bytes) to end before
/// it answers 429 TOOMANYREQUESTS.
const FENCE_WAIT: Duration = Duration::from_secs(2);

impl Registry {
    /// Claims `digest` for a push about to commit its bytes (see
    /// [`crate::meta::MetaStore::claim_blob`]). While the collector is removing the same
    /// blob, waits for it to finish: the push then stores the bytes afresh.
    pub(super) async fn claim_blob(&self, digest: &Digest, size: u64) -> RegistryResult<BlobClaim> {
        let deadline = tokio::time::Instant::now() + FENCE_WAIT;
        loop {
            match self.meta.claim_blob(digest, size).await? {
                BlobClaim::Deleting if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(FENCE_POLL).await;
                }
                BlobClaim::Deleting => return Err(RegistryError::blob_being_collected(digest)),
                claim => return Ok(claim),
            }
        }
    }
}
