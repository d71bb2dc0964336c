//! A third party's adapters, checked with the public test kit as wharf's own are: a
//! blob store and a metadata store written outside the crate (here, wrappers that hand
//! every call they implement to the in-memory adapters), named only through what wharf_registry
//! exports. The same wrappers with a fault each make the kit fail, naming the check.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::time::SystemTime;
use wharf_registry::async_trait;
use wharf_registry::bytes::Bytes;
use wharf_registry::meta::{
    BlobClaim, GcSnapshot, ManifestRecord, MemoryMetaStore, MetaResult, MetaStore, Page, Pull, UploadSession,
};
use wharf_registry::storage::{AppendSource, BlobStore, ByteStream, MemoryBlobStore, StoredBlob};
use wharf_registry::testkit::{blob_store_contract, meta_store_contract};
use wharf_registry::wharf_oci::{Digest, RepositoryName, Tag};

/// Someone's blob store; `commit_ignores_len` commits the whole upload, whatever length
/// it is told (a fault).
struct TheirBlobStore {
    inner: MemoryBlobStore,
    commit_ignores_len: bool,
}

#[async_trait]
impl BlobStore for TheirBlobStore {
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

    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        let len = if self.commit_ignores_len { u64::MAX } else { len };
        self.inner.commit_upload(id, len, digest).await
    }

    async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.inner.delete_upload(id).await
    }

    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        self.inner.list_blobs().await
    }

    async fn list_uploads(&self) -> io::Result<Vec<String>> {
        self.inner.list_uploads().await
    }
}

/// Someone's metadata store, with only the calls a store must have (the web UI's
/// optional records keep their defaults, which say they are not supported);
/// `unsorted_tags` lists tags newest first (a fault).
struct TheirMetaStore {
    inner: MemoryMetaStore,
    unsorted_tags: bool,
}

#[async_trait]
impl MetaStore for TheirMetaStore {
    async fn claim_blob(&self, digest: &Digest, size: u64) -> MetaResult<BlobClaim> {
        self.inner.claim_blob(digest, size).await
    }

    async fn link_blob(&self, repo: &RepositoryName, digest: &Digest, size: u64) -> MetaResult<()> {
        self.inner.link_blob(repo, digest, size).await
    }

    async fn linked_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<u64>> {
        self.inner.linked_blob(repo, digest).await
    }

    async fn linked_blobs(&self, repo: &RepositoryName, digests: &[Digest]) -> MetaResult<HashMap<Digest, u64>> {
        self.inner.linked_blobs(repo, digests).await
    }

    async fn unlink_blob(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        self.inner.unlink_blob(repo, digest).await
    }

    async fn known_blob(&self, digest: &Digest) -> MetaResult<Option<u64>> {
        self.inner.known_blob(digest).await
    }

    async fn blob_is_linked_anywhere(&self, digest: &Digest) -> MetaResult<bool> {
        self.inner.blob_is_linked_anywhere(digest).await
    }

    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        manifest: &ManifestRecord,
        tags: &[Tag],
        references: &[Digest],
        require_linked: bool,
    ) -> MetaResult<()> {
        self.inner
            .put_manifest(repo, manifest, tags, references, require_linked)
            .await
    }

    async fn manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<Option<ManifestRecord>> {
        self.inner.manifest(repo, digest).await
    }

    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        self.inner.record_pulls(pulls).await
    }

    async fn tagged_manifest(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<Option<ManifestRecord>> {
        self.inner.tagged_manifest(repo, tag).await
    }

    async fn delete_manifest(&self, repo: &RepositoryName, digest: &Digest) -> MetaResult<bool> {
        self.inner.delete_manifest(repo, digest).await
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        self.inner.delete_tag(repo, tag).await
    }

    async fn list_tags(&self, repo: &RepositoryName, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        let mut page = self.inner.list_tags(repo, after, limit).await?;
        if self.unsorted_tags {
            page.items.reverse();
        }
        Ok(page)
    }

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        self.inner.repository_exists(repo).await
    }

    async fn list_repositories(&self, after: Option<&str>, limit: Option<usize>) -> MetaResult<Page> {
        self.inner.list_repositories(after, limit).await
    }

    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> MetaResult<Vec<ManifestRecord>> {
        self.inner.referrers(repo, subject, artifact_type).await
    }

    async fn create_upload(&self, session: &UploadSession) -> MetaResult<()> {
        self.inner.create_upload(session).await
    }

    async fn upload(&self, id: &str) -> MetaResult<Option<UploadSession>> {
        self.inner.upload(id).await
    }

    async fn advance_upload(&self, session: &UploadSession, expected_offset: u64) -> MetaResult<bool> {
        self.inner.advance_upload(session, expected_offset).await
    }

    async fn delete_upload(&self, id: &str) -> MetaResult<bool> {
        self.inner.delete_upload(id).await
    }

    async fn idle_uploads(&self, cutoff: SystemTime) -> MetaResult<Vec<String>> {
        self.inner.idle_uploads(cutoff).await
    }

    async fn gc_snapshot(&self) -> MetaResult<GcSnapshot> {
        self.inner.gc_snapshot().await
    }

    async fn record_references(
        &self,
        repo: &RepositoryName,
        manifest: &Digest,
        references: &[Digest],
    ) -> MetaResult<()> {
        self.inner.record_references(repo, manifest, references).await
    }

    async fn remove_unused_manifests(
        &self,
        manifests: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        self.inner.remove_unused_manifests(manifests, cutoff).await
    }

    async fn remove_unused_links(
        &self,
        links: &[(RepositoryName, Digest)],
        cutoff: SystemTime,
    ) -> MetaResult<Vec<(RepositoryName, Digest)>> {
        self.inner.remove_unused_links(links, cutoff).await
    }

    async fn mark_blobs_deleting(&self, digests: &[Digest], cutoff: SystemTime) -> MetaResult<Vec<Digest>> {
        self.inner.mark_blobs_deleting(digests, cutoff).await
    }

    async fn fence_stray_blobs(&self, blobs: &[(Digest, u64)]) -> MetaResult<Vec<Digest>> {
        self.inner.fence_stray_blobs(blobs).await
    }

    async fn forget_deleted_blobs(&self, digests: &[Digest]) -> MetaResult<()> {
        self.inner.forget_deleted_blobs(digests).await
    }
}

#[tokio::test]
async fn a_third_party_blob_store_passes_the_public_contract() {
    let mut made = 0;
    blob_store_contract(|| {
        made += 1;
        async {
            TheirBlobStore {
                inner: MemoryBlobStore::new(),
                commit_ignores_len: false,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        made,
        wharf_registry::testkit::blob_store::CHECKS.len(),
        "a fresh store per check"
    );
}

#[tokio::test]
async fn a_blob_store_that_commits_the_wrong_length_fails_the_contract() {
    let broken = blob_store_contract(|| async {
        TheirBlobStore {
            inner: MemoryBlobStore::new(),
            commit_ignores_len: true,
        }
    })
    .await
    .expect_err("a commit of the wrong length breaks the contract");
    assert_eq!(broken.contract, "BlobStore");
    let failed: Vec<&str> = broken.failures.iter().map(|(check, _)| *check).collect();
    assert!(failed.contains(&"a_commit_takes_only_the_first_len_bytes"), "{broken}");
    assert!(
        !failed.contains(&"appends_at_the_given_offset"),
        "only the checks the fault touches fail: {broken}"
    );
    let report = broken.to_string();
    assert!(
        report.starts_with("the BlobStore contract is broken:")
            && report.contains("- a_commit_takes_only_the_first_len_bytes: "),
        "{report}"
    );
}

#[tokio::test]
async fn a_third_party_meta_store_passes_the_public_contract() {
    meta_store_contract(|| async {
        TheirMetaStore {
            inner: MemoryMetaStore::new(),
            unsorted_tags: false,
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_meta_store_that_lists_tags_out_of_order_fails_the_contract() {
    let broken = meta_store_contract(|| async {
        TheirMetaStore {
            inner: MemoryMetaStore::new(),
            unsorted_tags: true,
        }
    })
    .await
    .expect_err("unsorted tags break the contract");
    assert_eq!(broken.contract, "MetaStore");
    let failed: Vec<&str> = broken.failures.iter().map(|(check, _)| *check).collect();
    assert!(failed.contains(&"tags_are_listed_in_byte_order_by_page"), "{broken}");
    assert!(!failed.contains(&"blob_links_are_per_repository"), "{broken}");
}
