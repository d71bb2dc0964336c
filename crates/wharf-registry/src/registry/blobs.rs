//! Reading and deleting blobs of a repository.
//!
//! Before a blob is answered for, its bytes are checked to be there whole (see
//! [`super::damage`]): a small one is loaded, verified against its digest and kept in
//! memory; a large one's stored size is compared with the recorded one. A blob that
//! fails is set aside and answered as unknown, for HEAD and GET alike.

use super::content_cache::KEEP_BLOBS_UP_TO;
use super::{Registry, RegistryError, RegistryResult};
use crate::storage::{range_of, read_blob_to_bytes, ByteStream};
use bytes::Bytes;
use std::io;
use std::ops::Range;
use wharf_oci::{Digest, ErrorCode, RepositoryName};

/// A blob a repository may serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// Why stored content cannot be served: it was found damaged and set aside.
pub(super) struct Damaged(pub String);

/// 404 BLOB_UNKNOWN for a blob found damaged: a push of it repairs it.
fn damaged_blob(digest: &Digest, Damaged(why): Damaged) -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUnknown,
        format!(
            "blob {digest} is damaged in this registry's storage ({why}) and was set aside; push it again to repair it"
        ),
    )
}

impl Registry {
    /// The blob `digest` as `name` may serve it (BLOB_UNKNOWN otherwise, or when its
    /// bytes are found damaged).
    pub async fn blob(&self, name: &RepositoryName, digest: &Digest) -> RegistryResult<BlobInfo> {
        let Some(size) = self.meta.linked_blob(name, digest).await? else {
            return Err(RegistryError::new(
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in repository {name}"),
            ));
        };
        let blob = BlobInfo {
            digest: digest.clone(),
            size,
        };
        self.check_stored(&blob)
            .await?
            .map_err(|damaged| damaged_blob(digest, damaged))?;
        Ok(blob)
    }

    /// Where a client may fetch `blob` itself (a presigned storage URL), when the store
    /// offers one; never for the small blobs kept in memory, which are cheaper to send.
    pub async fn blob_redirect(&self, blob: &BlobInfo) -> RegistryResult<Option<String>> {
        if blob.size <= KEEP_BLOBS_UP_TO {
            return Ok(None);
        }
        Ok(self.blobs.blob_redirect_url(&blob.digest).await?)
    }

    /// Whether the bytes of `blob` are stored whole: a small blob is loaded and verified
    /// (and kept, so this is a memory lookup from then on), a large one's size compared.
    async fn check_stored(&self, blob: &BlobInfo) -> RegistryResult<Result<(), Damaged>> {
        if blob.size <= KEEP_BLOBS_UP_TO {
            return Ok(self.kept_content(&blob.digest, blob.size).await?.map(|_| ()));
        }
        let why = match self.blobs.blob_size(&blob.digest).await? {
            Some(stored) if stored == blob.size => return Ok(Ok(())),
            Some(stored) => format!("{stored} bytes stored, {} recorded", blob.size),
            None => "its bytes are missing".to_string(),
        };
        Ok(Err(self.found_damaged(&blob.digest, why).await))
    }

    /// The bytes of `blob` in `range` (end exclusive): a small blob from memory (see
    /// [`Registry::kept_content`]), others streamed from storage, hashed on the way when
    /// the whole blob is read and [`super::RegistryConfig::verify_blob_reads`] is set.
    pub async fn blob_bytes(&self, blob: &BlobInfo, range: Range<u64>) -> RegistryResult<ByteStream> {
        if blob.size > KEEP_BLOBS_UP_TO {
            let whole = range.start == 0 && range.end == blob.size;
            let stream = match self.blobs.read_blob(&blob.digest, range).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let damaged = self.found_damaged(&blob.digest, "its bytes are missing".into()).await;
                    return Err(damaged_blob(&blob.digest, damaged));
                }
                opened => opened?,
            };
            if whole && self.config.verify_blob_reads {
                return Ok(super::verify::verified(
                    stream,
                    blob.digest.clone(),
                    self.damage.clone(),
                ));
            }
            return Ok(stream);
        }
        let bytes = self
            .kept_content(&blob.digest, blob.size)
            .await?
            .map_err(|damaged| damaged_blob(&blob.digest, damaged))?;
        Ok(range_of(&bytes, range))
    }

    /// The whole content `digest` (of `size` bytes, a manifest or a small blob): kept in
    /// memory, or read from storage, checked against its digest and kept from now on
    /// (see [`super::content_cache`]). Content found missing, short or unlike its digest
    /// is set aside: the inner error says why.
    pub(super) async fn kept_content(&self, digest: &Digest, size: u64) -> RegistryResult<Result<Bytes, Damaged>> {
        if let Some(bytes) = self.content.get(digest) {
            return Ok(Ok(bytes));
        }
        let why = match read_blob_to_bytes(self.blobs.as_ref(), digest, size).await {
            Ok(bytes) => {
                let computed = Digest::of(digest.algorithm(), &bytes);
                if computed == *digest {
                    self.content.keep(digest, &bytes);
                    return Ok(Ok(bytes));
                }
                format!("its bytes have digest {computed}")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => "its bytes are missing".to_string(),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => format!("{size} bytes recorded, fewer stored"),
            Err(e) => return Err(e.into()),
        };
        Ok(Err(self.found_damaged(digest, why).await))
    }

    /// Sets the damaged `digest` aside (see [`super::damage`]) and forgets its bytes.
    pub(super) async fn found_damaged(&self, digest: &Digest, why: String) -> Damaged {
        self.content.forget(digest);
        self.damage.found(digest, &why).await;
        Damaged(why)
    }

    /// Removes the blob from the repository. Its bytes stay while anything may use them.
    pub async fn delete_blob(&self, name: &RepositoryName, digest: &Digest) -> RegistryResult<()> {
        if !self.config.delete_blobs {
            return Err(RegistryError::unsupported("blob deletion is disabled on this registry"));
        }
        if self
            .apply(crate::meta::Change::UnlinkBlob { repo: name, digest })
            .await?
        {
            Ok(())
        } else {
            Err(RegistryError::new(
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in repository {name}"),
            ))
        }
    }
}
