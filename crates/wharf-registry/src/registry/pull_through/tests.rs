//! The miss pipeline against an upstream and a blob store of the test's own: what a
//! reader is given and when, and how often the upstream is asked.

use super::super::{Registry, RegistryConfig};
use super::BlobAnswer;
use crate::meta::MemoryMetaStore;
use crate::storage::MemoryBlobStore;
use crate::storage::{AppendSource, BlobStore, ByteStream, StoredBlob};
use crate::upstream::{Upstream, UpstreamBlob, UpstreamError, UpstreamManifest, UpstreamRoute, Upstreams};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wharf_oci::{Digest, Reference, RepositoryName, Tag};

/// An upstream holding one blob, sent in 64 KiB pieces; it counts the blob GETs.
struct OneBlob {
    bytes: Bytes,
    gets: AtomicUsize,
}

#[async_trait]
impl Upstream for OneBlob {
    fn describe(&self) -> String {
        "a test upstream".into()
    }
    async fn manifest(&self, _: &RepositoryName, _: &Reference) -> Result<UpstreamManifest, UpstreamError> {
        Err(UpstreamError::NotFound("no manifests".into()))
    }
    async fn tag_digest(&self, _: &RepositoryName, _: &Tag) -> Result<Option<Digest>, UpstreamError> {
        Ok(None)
    }
    async fn blob(&self, _: &RepositoryName, _: &Digest) -> Result<UpstreamBlob, UpstreamError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let pieces: Vec<io::Result<Bytes>> = (0..self.bytes.len())
            .step_by(64 << 10)
            .map(|at| Ok(self.bytes.slice(at..self.bytes.len().min(at + (64 << 10)))))
            .collect();
        Ok(UpstreamBlob {
            size: Some(self.bytes.len() as u64),
            stream: futures::stream::iter(pieces).boxed(),
        })
    }
    async fn blob_size(&self, _: &RepositoryName, _: &Digest) -> Result<Option<u64>, UpstreamError> {
        Ok(Some(self.bytes.len() as u64))
    }
    async fn tags(&self, _: &RepositoryName) -> Result<Vec<String>, UpstreamError> {
        Ok(Vec::new())
    }
    async fn referrers(&self, _: &RepositoryName, _: &Digest) -> Result<Vec<serde_json::Value>, UpstreamError> {
        Ok(Vec::new())
    }
}

/// A memory store whose commits wait until the test lets them through: a slow disk.
struct SlowCommits {
    inner: MemoryBlobStore,
    commits: Arc<Semaphore>,
}

#[async_trait]
impl BlobStore for SlowCommits {
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        self.inner.blob_size(digest).await
    }
    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream> {
        self.inner.read_blob(digest, range).await
    }
    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        self.inner.put_blob(digest, bytes).await
    }
    async fn delete_blob(&self, digest: &Digest) -> io::Result<()> {
        self.inner.delete_blob(digest).await
    }
    async fn create_upload(&self, id: &str) -> io::Result<()> {
        self.inner.create_upload(id).await
    }
    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.inner.append_upload(id, offset, source).await
    }
    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream> {
        self.inner.read_upload(id, len).await
    }
    async fn read_upload_range(&self, id: &str, range: Range<u64>) -> io::Result<ByteStream> {
        self.inner.read_upload_range(id, range).await
    }
    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        self.commits.acquire().await.map_err(io::Error::other)?.forget();
        self.inner.commit_upload(id, len, digest).await
    }
    async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.inner.delete_upload(id).await
    }
    async fn list_uploads(&self) -> io::Result<Vec<String>> {
        self.inner.list_uploads().await
    }
    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        self.inner.list_blobs().await
    }
}

fn name(s: &str) -> RepositoryName {
    s.parse().unwrap()
}

fn blob_of(len: usize) -> Bytes {
    (0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>().into()
}

fn registry_over(blobs: Arc<dyn BlobStore>, upstream: Arc<OneBlob>) -> Arc<Registry> {
    let registry = Registry::new(blobs, Arc::new(MemoryMetaStore::new()), RegistryConfig::default())
        .with_upstreams(Upstreams::new(vec![UpstreamRoute::new("up", upstream)]));
    Arc::new(registry)
}

/// Reads a pull-through answer to its end (within 10 s).
async fn read_all(answer: BlobAnswer) -> io::Result<Vec<u8>> {
    let BlobAnswer::Pulling { stream, .. } = answer else {
        panic!("the blob was not pulled through")
    };
    let read = stream.try_fold(Vec::new(), |mut all, piece| async move {
        all.extend_from_slice(&piece);
        Ok(all)
    });
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the reader got its bytes within 10 s")
}

/// Waits until the blob is linked into `repo` and its fetch has left the table.
async fn wait_until_cached(registry: &Arc<Registry>, repo: &RepositoryName, digest: &Digest) {
    for _ in 0..500 {
        let running = registry.pull_through.fetches.lock().unwrap().len();
        if running == 0 && registry.blob(repo, digest).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the blob was not cached within 5 s");
}

/// A client waits for the upstream and the hash, not for the store: the verified bytes
/// are all given while the commit is still held back; the blob is cached once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_bytes_reach_the_reader_before_the_commit() {
    let bytes = blob_of(3 << 20);
    let digest = Digest::sha256_of(&bytes);
    let upstream = Arc::new(OneBlob {
        bytes: bytes.clone(),
        gets: AtomicUsize::new(0),
    });
    let commits = Arc::new(Semaphore::new(0));
    let store = Arc::new(SlowCommits {
        inner: MemoryBlobStore::new(),
        commits: commits.clone(),
    });
    let registry = registry_over(store, upstream.clone());
    let repo = name("up/app");

    let answer = registry.blob_or_pull(&repo, &digest).await.unwrap();
    assert_eq!(
        read_all(answer).await.unwrap(),
        bytes,
        "the whole blob before its commit"
    );
    assert!(registry.blob(&repo, &digest).await.is_err(), "not committed yet");

    // A request meanwhile joins the running fetch rather than the upstream.
    let joined = registry.blob_or_pull(&repo, &digest).await.unwrap();
    assert_eq!(read_all(joined).await.unwrap(), bytes);

    commits.add_permits(1);
    wait_until_cached(&registry, &repo, &digest).await;
    assert_eq!(upstream.gets.load(Ordering::SeqCst), 1, "blob GETs upstream");
}

/// A request that found the blob missing just before the fetch that stored it left the
/// table starts a fetch of its own: that fetch serves the stored blob and does not ask
/// the upstream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_started_after_the_blob_was_cached_reads_the_cache() {
    let bytes = blob_of(1 << 20);
    let digest = Digest::sha256_of(&bytes);
    let upstream = Arc::new(OneBlob {
        bytes: bytes.clone(),
        gets: AtomicUsize::new(0),
    });
    let registry = registry_over(Arc::new(MemoryBlobStore::new()), upstream.clone());
    let repo = name("up/app");
    let answer = registry.blob_or_pull(&repo, &digest).await.unwrap();
    assert_eq!(read_all(answer).await.unwrap(), bytes);
    wait_until_cached(&registry, &repo, &digest).await;

    // What such a request does after its look-up: join (here: start) a fetch.
    let (route, upstream_name) = registry.upstreams.route(&repo).unwrap();
    let fetch = registry.join_fetch(route, &repo, &upstream_name, &digest);
    assert_eq!(fetch.started().await.unwrap(), Some(bytes.len() as u64));
    let answer = BlobAnswer::Pulling {
        size: Some(bytes.len() as u64),
        stream: fetch.reader(),
    };
    assert_eq!(read_all(answer).await.unwrap(), bytes);
    assert_eq!(upstream.gets.load(Ordering::SeqCst), 1, "blob GETs upstream");
}

/// Bytes unlike their digest end every reader's stream with an error before its last
/// byte, and nothing is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_unlike_their_digest_are_never_given_whole() {
    let bytes = blob_of(2 << 20);
    let claimed = Digest::sha256_of(b"something else");
    let upstream = Arc::new(OneBlob {
        bytes: bytes.clone(),
        gets: AtomicUsize::new(0),
    });
    let registry = registry_over(Arc::new(MemoryBlobStore::new()), upstream);
    let repo = name("up/app");
    let answer = registry.blob_or_pull(&repo, &claimed).await.unwrap();
    let BlobAnswer::Pulling { mut stream, .. } = answer else {
        panic!("the blob was not pulled through")
    };
    let mut given = 0;
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
        {
            Some(Ok(piece)) => given += piece.len(),
            Some(Err(e)) => break e,
            None => panic!("the stream ended as if the blob were whole"),
        }
    };
    assert!(given < bytes.len(), "{given} bytes given");
    assert!(error.to_string().contains("digest"), "{error}");
    for _ in 0..500 {
        if registry.pull_through.fetches.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(registry.blob(&repo, &claimed).await.is_err(), "nothing cached");
}
