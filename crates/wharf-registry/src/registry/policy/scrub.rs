//! Scrub: every blob some repository links is read back and hashed, so that damage the
//! blob store took silently (a flipped bit, a truncated file) is found before a client
//! pulls it. A damaged blob is set aside at once, as a damaged read does (see
//! [`crate::BlobStore::quarantine_blob`]): it is answered as unknown from then on, and
//! the next push of the same digest repairs it. Manifests whose references are then
//! missing are reported.
//!
//! Reads are paced to `bytes_per_second`, so a scrub can run beside the traffic. Only
//! linked blobs are read: a blob claimed by a push still writing it has no link yet,
//! and unlinked bytes are the collector's.

use crate::registry::{Registry, RegistryResult};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, Instant};
use wharf_oci::{Digest, RepositoryName};

/// How a scrub runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubOptions {
    /// At most this many bytes read per second (`None`: as fast as storage allows).
    pub bytes_per_second: Option<u64>,
}

/// A blob whose stored bytes did not match its digest or size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedBlob {
    pub digest: String,
    pub size: u64,
    pub why: String,
}

/// A manifest that references content its repository no longer has whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingReference {
    pub repository: String,
    pub manifest: String,
    pub missing: String,
}

/// The outcome of [`Registry::scrub`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScrubReport {
    /// Blobs read and bytes hashed.
    pub blobs: u64,
    pub bytes: u64,
    pub damaged: Vec<DamagedBlob>,
    pub missing_references: Vec<MissingReference>,
    pub took_ms: u64,
}

impl ScrubReport {
    /// Whether the scrub found anything wrong.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.missing_references.is_empty()
    }
}

impl Registry {
    /// Reads every linked blob once and checks it against its digest and size (see
    /// [`self`]); damaged ones are set aside.
    pub async fn scrub(&self, options: &ScrubOptions) -> RegistryResult<ScrubReport> {
        let started = Instant::now();
        let snapshot = self.meta.gc_snapshot().await?;
        let mut sizes: HashMap<&Digest, u64> = HashMap::new();
        for link in &snapshot.links {
            sizes.entry(&link.digest).or_insert(link.size);
        }
        let mut digests: Vec<(&Digest, u64)> = sizes.into_iter().collect();
        digests.sort();
        let mut report = ScrubReport::default();
        let mut pace = Pace::new(options.bytes_per_second);
        let mut damaged: HashSet<Digest> = HashSet::new();
        for (digest, size) in digests {
            report.blobs += 1;
            if let Some(why) = self.check_bytes(digest, size, &mut pace, &mut report.bytes).await? {
                self.found_damaged(digest, why.clone()).await;
                damaged.insert(digest.clone());
                report.damaged.push(DamagedBlob {
                    digest: digest.to_string(),
                    size,
                    why,
                });
            }
        }
        let linked: HashSet<(&RepositoryName, &Digest)> =
            snapshot.links.iter().map(|l| (&l.repository, &l.digest)).collect();
        for (repo, manifest, reference) in &snapshot.references {
            // An upstream's cache may lack a layer its size limit evicted: the next pull
            // fetches it again, so it is not missing.
            let refetched = !damaged.contains(reference) && self.pulls_through(repo);
            if !refetched && (damaged.contains(reference) || !linked.contains(&(repo, reference))) {
                report.missing_references.push(MissingReference {
                    repository: repo.to_string(),
                    manifest: manifest.to_string(),
                    missing: reference.to_string(),
                });
            }
        }
        report.took_ms = started.elapsed().as_millis() as u64;
        if !report.damaged.is_empty() {
            tracing::error!(
                damaged = report.damaged.len(),
                "scrub found damaged blobs and set them aside"
            );
        }
        Ok(report)
    }

    /// Why the stored bytes of `digest` are not its `size` bytes, if they are not.
    async fn check_bytes(
        &self,
        digest: &Digest,
        size: u64,
        pace: &mut Pace,
        read: &mut u64,
    ) -> RegistryResult<Option<String>> {
        match self.blobs.blob_size(digest).await? {
            None => return Ok(Some("its bytes are missing".into())),
            Some(stored) if stored != size => return Ok(Some(format!("{stored} bytes stored, {size} recorded"))),
            Some(_) => {}
        }
        let mut stream = match self.blobs.read_blob(digest, 0..size).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some("its bytes are missing".into())),
            opened => opened?,
        };
        let mut hasher = digest.algorithm().hasher();
        let mut length = 0u64;
        while let Some(piece) = stream.next().await {
            let piece = match piece {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some("its bytes are missing".into())),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Some(format!("{size} bytes recorded, fewer stored")))
                }
                piece => piece?,
            };
            hasher.update(&piece);
            length += piece.len() as u64;
            *read += piece.len() as u64;
            pace.account(piece.len() as u64).await;
        }
        if length != size {
            return Ok(Some(format!("{length} bytes read, {size} recorded")));
        }
        let computed = hasher.finish();
        Ok((computed != *digest).then(|| format!("its bytes have digest {computed}")))
    }
}

/// Keeps a reader at or under a byte rate, by sleeping when it runs ahead.
struct Pace {
    rate: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Pace {
    fn new(rate: Option<u64>) -> Pace {
        Pace {
            rate: rate.filter(|r| *r > 0),
            started: Instant::now(),
            bytes: 0,
        }
    }

    async fn account(&mut self, bytes: u64) {
        let Some(rate) = self.rate else { return };
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}
