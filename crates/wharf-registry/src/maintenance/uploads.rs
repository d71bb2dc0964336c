//! The jobs that clean up after uploads clients did not finish.

use super::Job;
use crate::registry::{Registry, RegistryResult};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Removes upload sessions idle for longer than the registry's `upload_ttl`, with their
/// bytes.
pub struct ExpireUploads {
    period: Duration,
}

impl ExpireUploads {
    /// Checks every quarter of `ttl`, at least every minute and at most every second:
    /// a session lives at most a quarter longer than its TTL.
    pub fn for_ttl(ttl: Duration) -> ExpireUploads {
        ExpireUploads {
            period: (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }
}

#[async_trait]
impl Job for ExpireUploads {
    fn name(&self) -> &str {
        "upload expiry"
    }

    fn period(&self) -> Duration {
        self.period
    }

    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        let removed = registry.expire_uploads(SystemTime::now()).await?;
        if removed > 0 {
            tracing::info!("removed {removed} expired upload session(s)");
        }
        Ok(())
    }
}

/// Removes upload bytes that no session owns: what a crash between the two writes that
/// open an upload (bytes, then session) leaves, or a removal of a session whose bytes
/// could not be deleted. Bytes are removed only when the previous pass, a period
/// earlier, found them without a session too: a session being opened right now, on
/// this replica or another one sharing the storage, has its bytes before its record.
pub struct RemoveOrphanUploads {
    period: Duration,
    /// Uploads the previous pass found without a session.
    suspects: HashSet<String>,
}

impl RemoveOrphanUploads {
    /// A pass every `period`, which must be far longer than opening a session takes.
    pub fn every(period: Duration) -> RemoveOrphanUploads {
        RemoveOrphanUploads {
            period,
            suspects: HashSet::new(),
        }
    }
}

impl Default for RemoveOrphanUploads {
    /// A pass every ten minutes.
    fn default() -> Self {
        RemoveOrphanUploads::every(Duration::from_secs(600))
    }
}

#[async_trait]
impl Job for RemoveOrphanUploads {
    fn name(&self) -> &str {
        "orphan upload removal"
    }

    fn period(&self) -> Duration {
        self.period
    }

    async fn run(&mut self, registry: &Arc<Registry>) -> RegistryResult<()> {
        let orphans = registry.uploads_without_session().await?;
        let mut removed = 0;
        let mut suspects = HashSet::new();
        for id in orphans {
            if !self.suspects.contains(&id) {
                suspects.insert(id);
            } else if registry.remove_upload_without_session(&id).await? {
                removed += 1;
            }
        }
        self.suspects = suspects;
        if removed > 0 {
            tracing::info!("removed {removed} upload(s) that no session owned");
        }
        Ok(())
    }
}
