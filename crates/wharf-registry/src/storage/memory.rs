//! Blobs in memory: for tests, and the model to follow when writing an adapter.

use super::{AppendSource, BlobStore, ByteStream, StoredBlob};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::Mutex;
use wharf_oci::Digest;

/// A [`BlobStore`] that keeps everything in process memory. Nothing survives a restart.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<Digest, Bytes>>,
    uploads: Mutex<HashMap<String, Vec<u8>>>,
    /// Blobs set aside as damaged, kept apart from the served ones (see
    /// [`BlobStore::quarantine_blob`]).
    quarantined: Mutex<HashMap<Digest, Bytes>>,
    /// When each blob was stored.
    written: Mutex<HashMap<Digest, std::time::SystemTime>>,
}

impl MemoryBlobStore {
    fn stored(&self, digest: &Digest) {
        let mut written = self.written.lock().unwrap();
        written.entry(digest.clone()).or_insert_with(std::time::SystemTime::now);
    }
}

impl MemoryBlobStore {
    pub fn new() -> MemoryBlobStore {
        MemoryBlobStore::default()
    }

    /// Replaces a stored blob's bytes, as damage outside the registry would (for tests).
    pub fn damage_blob(&self, digest: &Digest, bytes: Bytes) {
        self.blobs.lock().unwrap().insert(digest.clone(), bytes);
    }

    /// The bytes set aside as damaged under `digest`, if any.
    pub fn quarantined(&self, digest: &Digest) -> Option<Bytes> {
        self.quarantined.lock().unwrap().get(digest).cloned()
    }
}

fn no_upload(id: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no upload {id}"))
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        Ok(self.blobs.lock().unwrap().get(digest).map(|b| b.len() as u64))
    }

    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream> {
        let blob = self.blobs.lock().unwrap().get(digest).cloned();
        let blob = blob.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob"))?;
        Ok(super::range_of(&blob, range))
    }

    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        let mut blobs = self.blobs.lock().unwrap();
        if blobs.get(digest).is_none_or(|stored| stored.len() != bytes.len()) {
            blobs.insert(digest.clone(), bytes);
        }
        drop(blobs);
        self.stored(digest);
        Ok(())
    }

    async fn delete_blob(&self, digest: &Digest) -> io::Result<()> {
        self.blobs.lock().unwrap().remove(digest);
        self.written.lock().unwrap().remove(digest);
        Ok(())
    }

    async fn quarantine_blob(&self, digest: &Digest) -> io::Result<bool> {
        let removed = self.blobs.lock().unwrap().remove(digest);
        let present = removed.is_some();
        if let Some(bytes) = removed {
            self.quarantined.lock().unwrap().insert(digest.clone(), bytes);
        }
        Ok(present)
    }

    async fn create_upload(&self, id: &str) -> io::Result<()> {
        self.uploads.lock().unwrap().insert(id.to_string(), Vec::new());
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        // Collected first, then appended at once: a source that fails ends the append
        // there, with what it yielded before kept.
        let mut incoming = Vec::new();
        while let Some(Ok(chunk)) = source.next().await {
            incoming.extend_from_slice(&chunk);
        }
        let mut uploads = self.uploads.lock().unwrap();
        let data = uploads.get_mut(id).ok_or_else(|| no_upload(id))?;
        if (data.len() as u64) < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upload is shorter than recorded",
            ));
        }
        data.truncate(offset as usize);
        data.extend_from_slice(&incoming);
        Ok(incoming.len() as u64)
    }

    async fn upload_len(&self, id: &str) -> io::Result<u64> {
        let uploads = self.uploads.lock().unwrap();
        Ok(uploads.get(id).ok_or_else(|| no_upload(id))?.len() as u64)
    }

    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream> {
        let uploads = self.uploads.lock().unwrap();
        let data = uploads.get(id).ok_or_else(|| no_upload(id))?;
        let bytes = Bytes::copy_from_slice(&data[..(len as usize).min(data.len())]);
        Ok(futures::stream::once(async move { Ok(bytes) }).boxed())
    }

    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        let mut data = self.uploads.lock().unwrap().remove(id).ok_or_else(|| no_upload(id))?;
        if (data.len() as u64) < len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "upload is short"));
        }
        data.truncate(len as usize);
        let mut blobs = self.blobs.lock().unwrap();
        // Stored bytes of another length are damaged: the commit replaces them.
        if blobs.get(digest).is_none_or(|stored| stored.len() as u64 != len) {
            blobs.insert(digest.clone(), Bytes::from(data));
        }
        drop(blobs);
        self.stored(digest);
        Ok(())
    }

    async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.uploads.lock().unwrap().remove(id);
        Ok(())
    }

    async fn list_uploads(&self) -> io::Result<Vec<String>> {
        Ok(self.uploads.lock().unwrap().keys().cloned().collect())
    }

    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        let blobs = self.blobs.lock().unwrap();
        let written = self.written.lock().unwrap();
        Ok(blobs
            .iter()
            .map(|(digest, bytes)| StoredBlob {
                digest: digest.clone(),
                size: bytes.len() as u64,
                written: written.get(digest).copied(),
            })
            .collect())
    }
}
