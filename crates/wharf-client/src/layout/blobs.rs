//! Reading and writing the content-addressed files under `blobs/`.

use std::io;
use std::path::PathBuf;

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_oci::Digest;

use super::blob_writer::LayoutBlobWriter;
use super::error::LayoutError;
use super::OciLayout;

impl OciLayout {
    /// `blobs/<alg>/<hex>`. Built from a parsed [`Digest`] only, whose two parts are a
    /// known algorithm name and lowercase hex, so no digest can name a path outside the
    /// layout.
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The blob's size, or `None` when the layout does not hold it: the spec lets a
    /// layout lack blobs it references, so absence is an answer rather than an error.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, LayoutError> {
        let path = self.blob_path(digest);
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LayoutError::io(path)(e)),
        }
    }

    /// Opens a blob to stream it, with its size. The bytes are not verified here (that
    /// would mean reading them twice); a caller streaming them on hashes as it goes.
    pub async fn open_blob(&self, digest: &Digest) -> Result<(File, u64), LayoutError> {
        let path = self.blob_path(digest);
        let file = match File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayoutError::BlobMissing {
                    path: self.root.clone(),
                    digest: digest.clone(),
                })
            }
            Err(e) => return Err(LayoutError::io(path)(e)),
        };
        let meta = file.metadata().await.map_err(LayoutError::io(&path))?;
        if !meta.is_file() {
            return Err(LayoutError::io(&path)(io::Error::other("not a regular file")));
        }
        Ok((file, meta.len()))
    }

    /// The whole blob, checked against its digest: for manifests and configs, which are
    /// parsed and so must be in memory. `max_len` keeps a huge blob from being read
    /// whole by mistake.
    pub async fn read_blob(&self, digest: &Digest, max_len: u64) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let (file, size) = self.open_blob(digest).await?;
        let too_large = |size| LayoutError::TooLarge {
            path: path.clone(),
            digest: digest.clone(),
            size,
            max: max_len,
        };
        if size > max_len {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // The cap holds even if the file grows after the size was taken.
        file.take(max_len.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(LayoutError::io(&path))?;
        if bytes.len() as u64 > max_len {
            return Err(too_large(bytes.len() as u64));
        }
        let actual = Digest::of(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(LayoutError::DigestMismatch {
                path,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// A writer for the blob `digest` of `size` bytes; see [`LayoutBlobWriter`].
    pub async fn blob_writer(&self, digest: &Digest, size: u64) -> Result<LayoutBlobWriter, LayoutError> {
        LayoutBlobWriter::new(digest.clone(), size, self.blob_path(digest)).await
    }

    /// Stores `bytes` as the blob `digest`, refusing them if they are not that blob.
    pub async fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), LayoutError> {
        let actual = Digest::of(digest.algorithm(), bytes);
        if actual != *digest {
            return Err(LayoutError::DigestMismatch {
                path: self.blob_path(digest),
                expected: digest.clone(),
                actual,
            });
        }
        if self.blob_size(digest).await? == Some(bytes.len() as u64) {
            return Ok(());
        }
        let mut writer = self.blob_writer(digest, bytes.len() as u64).await?;
        writer
            .write_all(bytes)
            .await
            .map_err(LayoutError::io(self.blob_path(digest)))?;
        writer.commit().await
    }
}
