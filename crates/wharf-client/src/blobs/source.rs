//! What a blob push reads from. A source can be opened again at any offset, so that a
//! push interrupted halfway resumes from where the registry says it stopped.

use crate::error::{Error, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncSeekExt;
use wharf_oci::{Algorithm, Digest};

/// Read buffer for files: large enough that hashing and sending dominate system calls.
const FILE_READ_BUFFER: usize = 256 * 1024;

/// A stream of a blob's bytes.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Bytes of a blob, known by digest and size before they are read.
pub trait BlobSource: Send + Sync {
    fn digest(&self) -> &Digest;
    fn size(&self) -> u64;
    /// The bytes from `offset` to the end.
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>>;
}

/// A blob held in memory (manifests, configs, small artifacts).
#[derive(Clone)]
pub struct BytesSource {
    bytes: Bytes,
    digest: Digest,
}

impl BytesSource {
    pub fn new(bytes: impl Into<Bytes>) -> BytesSource {
        let bytes = bytes.into();
        BytesSource {
            digest: Digest::sha256_of(&bytes),
            bytes,
        }
    }
}

impl BlobSource for BytesSource {
    fn digest(&self) -> &Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        let rest = self.bytes.slice((offset as usize).min(self.bytes.len())..);
        Box::pin(async move { Ok(futures::stream::iter([Ok(rest)]).boxed()) })
    }
}

/// A blob in a file, streamed from disk.
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl FileSource {
    /// Reads the file once to learn its sha256 digest and size.
    pub async fn hash(path: impl AsRef<Path>) -> Result<FileSource> {
        let path = path.as_ref().to_path_buf();
        let context = format!("cannot read {}", path.display());
        let (digest, size) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || hash_file(&path))
                .await
                .map_err(|e| Error::Invalid(format!("hashing task failed: {e}")))?
                .map_err(|e| Error::io(context, e))?
        };
        Ok(FileSource { path, digest, size })
    }

    /// A file whose digest and size are already known (a blob in an OCI layout).
    pub fn with_digest(path: impl Into<PathBuf>, digest: Digest, size: u64) -> FileSource {
        FileSource {
            path: path.into(),
            digest,
            size,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn hash_file(path: &Path) -> std::io::Result<(Digest, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Algorithm::Sha256.hasher();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hasher.finish(), size))
}

impl BlobSource for FileSource {
    fn digest(&self) -> &Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        Box::pin(async move {
            let context = || format!("cannot read {}", self.path.display());
            let mut file = tokio::fs::File::open(&self.path)
                .await
                .map_err(|e| Error::io(context(), e))?;
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| Error::io(context(), e))?;
            let limited = tokio::io::AsyncReadExt::take(file, self.size.saturating_sub(offset));
            Ok(tokio_util::io::ReaderStream::with_capacity(limited, FILE_READ_BUFFER).boxed())
        })
    }
}
