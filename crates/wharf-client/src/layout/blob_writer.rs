//! Streaming a blob into a layout: hashed as it is written, visible under its digest only
//! once it is complete and verified.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::fs::File;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use wharf_oci::{Digest, DigestHasher};

use super::atomic::{self, TempPath};
use super::error::LayoutError;

/// Writes one blob of a known digest and size. The bytes go to a temporary file in the
/// blob's own directory (so the final rename never crosses filesystems); [`commit`]
/// moves it into place after checking it, and dropping the writer without committing
/// removes it, so nothing unverified is ever found under `blobs/`.
///
/// [`commit`]: LayoutBlobWriter::commit
#[derive(Debug)]
pub struct LayoutBlobWriter {
    file: File,
    temp: TempPath,
    hasher: DigestHasher,
    written: u64,
    digest: Digest,
    size: u64,
    target: PathBuf,
}

impl LayoutBlobWriter {
    pub(crate) async fn new(digest: Digest, size: u64, target: PathBuf) -> Result<LayoutBlobWriter, LayoutError> {
        let dir = atomic::parent(&target).to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(LayoutError::io(&dir))?;
        let (file, temp) = atomic::create_temp(&dir).await?;
        Ok(LayoutBlobWriter {
            file,
            temp,
            hasher: digest.algorithm().hasher(),
            written: 0,
            digest,
            size,
            target,
        })
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Checks the size and digest of what was written, makes it durable and gives it its
    /// name. A blob already present under that name (another copy got there first) is
    /// kept and the new bytes discarded, unless its size shows it is not the blob.
    pub async fn commit(mut self) -> Result<(), LayoutError> {
        // tokio's File hands writes to a blocking thread; flush waits for the last one.
        self.file.flush().await.map_err(LayoutError::io(self.temp.path()))?;
        if self.written != self.size {
            return Err(LayoutError::SizeMismatch {
                path: self.target,
                digest: self.digest,
                expected: self.size,
                actual: self.written,
            });
        }
        let actual = self.hasher.finish();
        if actual != self.digest {
            return Err(LayoutError::DigestMismatch {
                path: self.target,
                expected: self.digest,
                actual,
            });
        }
        match tokio::fs::metadata(&self.target).await {
            Ok(meta) if meta.is_file() && meta.len() == self.size => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LayoutError::io(&self.target)(e)),
        }
        self.file.sync_all().await.map_err(LayoutError::io(self.temp.path()))?;
        drop(self.file);
        self.temp
            .persist(&self.target)
            .await
            .map_err(LayoutError::io(&self.target))?;
        atomic::sync_dir(atomic::parent(&self.target)).await
    }

    fn overflow(&self, len: usize) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "blob {} was declared as {} bytes; {} more would make {}",
                self.digest,
                self.size,
                len,
                self.written + len as u64
            ),
        )
    }
}

impl AsyncWrite for LayoutBlobWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Refused before it reaches the disk: a source sending more than it announced
        // must not be able to fill the filesystem.
        if this.written + buf.len() as u64 > this.size {
            return Poll::Ready(Err(this.overflow(buf.len())));
        }
        let result = Pin::new(&mut this.file).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.hasher.update(&buf[..n]);
            this.written += n as u64;
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_shutdown(cx)
    }
}
