//! Blobs found damaged in storage: a stored size unlike the record, bytes missing, or
//! bytes unlike their digest (damage outside wharf: a disk, an operator, another tool).
//!
//! Such a blob is set aside at once ([`BlobStore::quarantine_blob`]) and dropped from
//! the content cache, so it is never served again as valid; requests for it are answered
//! as for an unknown blob (404 BLOB_UNKNOWN, MANIFEST_UNKNOWN for a manifest) with a
//! message saying why, which is also what makes clients that push check with HEAD
//! first send it again: the next push of the digest stores it afresh and repairs it.
//! Each damaged digest is logged once, when found, not on every request that asks.

use crate::storage::BlobStore;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use wharf_oci::Digest;

/// Digests remembered as reported; past this the memory starts again (a digest may
/// then be logged a second time, which is all that costs).
const REMEMBERED: usize = 10_000;

pub(crate) struct Damage {
    blobs: Arc<dyn BlobStore>,
    reported: Mutex<HashSet<Digest>>,
}

impl Damage {
    pub fn new(blobs: Arc<dyn BlobStore>) -> Damage {
        Damage {
            blobs,
            reported: Mutex::default(),
        }
    }

    /// The blob `digest` was found damaged (`why`): sets its bytes aside and logs it,
    /// once per digest until it is repaired.
    pub async fn found(&self, digest: &Digest, why: &str) {
        let set_aside = match self.blobs.quarantine_blob(digest).await {
            Ok(moved) => moved,
            Err(e) => {
                tracing::error!(%digest, error = %e, "could not set a damaged blob aside");
                false
            }
        };
        let first = {
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            if reported.len() >= REMEMBERED {
                reported.clear();
            }
            reported.insert(digest.clone())
        };
        if first || set_aside {
            tracing::error!(
                %digest,
                why,
                set_aside,
                "a blob is damaged in storage: it is answered as unknown until it is pushed again"
            );
        }
    }

    /// The blob `digest` was stored again: damage found later is news again.
    pub fn repaired(&self, digest: &Digest) {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if !reported.is_empty() {
            reported.remove(digest);
        }
    }
}
