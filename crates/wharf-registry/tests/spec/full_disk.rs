//! A full disk: every write is refused with 507 Insufficient Storage and a message that
//! says the registry is out of space (not a 500), reads go on being served, and writes
//! work again once there is space.

use crate::client::{expect_error, header};
use crate::content::{Blob, Image};
use crate::harness::TestServer;
use async_trait::async_trait;
use bytes::Bytes;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wharf_oci::Digest;
use wharf_registry::storage::{AppendSource, BlobStore, ByteStream, FsBlobStore, StoredBlob};
use wharf_registry::RegistryConfig;

/// The file store, whose writes fail with ENOSPC while `full` is set.
struct FillableStore {
    inner: FsBlobStore,
    full: Arc<AtomicBool>,
}

impl FillableStore {
    fn check(&self) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl BlobStore for FillableStore {
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        self.inner.blob_size(digest).await
    }
    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream> {
        self.inner.read_blob(digest, range).await
    }
    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        self.check()?;
        self.inner.put_blob(digest, bytes).await
    }
    async fn delete_blob(&self, digest: &Digest) -> io::Result<()> {
        self.inner.delete_blob(digest).await
    }
    async fn create_upload(&self, id: &str) -> io::Result<()> {
        self.inner.create_upload(id).await
    }
    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.check()?;
        self.inner.append_upload(id, offset, source).await
    }
    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream> {
        self.inner.read_upload(id, len).await
    }
    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        self.check()?;
        self.inner.commit_upload(id, len, digest).await
    }
    async fn commit_whole_upload(&self, id: &str, bytes: Bytes, digest: &Digest) -> io::Result<()> {
        self.check()?;
        self.inner.commit_whole_upload(id, bytes, digest).await
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

fn assert_out_of_space(what: &str, body: serde_json::Value) {
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("out of storage space"), "{what}: {message}");
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_507_and_keeps_serving_reads() {
    let full = Arc::new(AtomicBool::new(false));
    let flag = full.clone();
    let s = TestServer::with_blob_store(RegistryConfig::default(), move |inner| {
        Arc::new(FillableStore { inner, full: flag })
    })
    .await;
    let image = Image::new(91);
    s.push_image("app", "v1", &image).await;

    full.store(true, Ordering::SeqCst);
    // A blob pushed whole, a chunk, a blob closed after chunks, a manifest.
    let blob = Blob::random(92, 5000);
    let response = s
        .request(
            reqwest::Method::POST,
            &format!("/v2/app/blobs/uploads/?digest={}", blob.digest),
        )
        .header("content-type", "application/octet-stream")
        .body(blob.bytes.clone())
        .send()
        .await
        .unwrap();
    assert_out_of_space("single POST", expect_error(response, 507, "UNKNOWN").await);
    let location = s.start_upload("app").await;
    let response = s.patch_chunk(&location, 0, &blob.bytes).await;
    assert_out_of_space("PATCH", expect_error(response, 507, "UNKNOWN").await);
    let other = Image::new(93);
    let response = s.put_manifest("app", "v2", &other.manifest).await;
    // The manifest's blobs are not there: refused for that before anything is stored.
    assert_eq!(response.status(), 400);
    let mut retagged = image.manifest.clone();
    retagged.bytes.extend_from_slice(b"\n");
    retagged.digest = crate::content::sha256(&retagged.bytes);
    let response = s.put_manifest("app", "v3", &retagged).await;
    assert_out_of_space("manifest PUT", expect_error(response, 507, "UNKNOWN").await);

    // Reads are served as before.
    let manifest = s.get("/v2/app/manifests/v1").await;
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.bytes().await.unwrap(), image.manifest.bytes);
    let layer = s.get(&format!("/v2/app/blobs/{}", image.layer.digest)).await;
    assert_eq!(layer.status(), 200);
    assert_eq!(header(&layer, "docker-content-digest").unwrap(), image.layer.digest);
    assert_eq!(layer.bytes().await.unwrap(), image.layer.bytes);
    assert_eq!(s.tags("app").await, ["v1"]);

    // Space freed: the same pushes succeed.
    full.store(false, Ordering::SeqCst);
    let response = s.patch_chunk(&location, 0, &blob.bytes).await;
    assert_eq!(response.status(), 202);
    let response = s.put_upload(&location, &blob.digest, b"").await;
    assert_eq!(response.status(), 201);
    let response = s.put_manifest("app", "v3", &retagged).await;
    assert_eq!(response.status(), 201);
}
