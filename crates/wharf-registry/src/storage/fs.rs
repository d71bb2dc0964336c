//! Blobs as files under a data directory.
//!
//! Layout: `blobs/<algorithm>/<first two hex>/<hex>` for blobs, `uploads/<id>` for
//! unfinished uploads (made by their first append, so an upload closed by the request
//! that starts sending it never has one), `tmp/` for blobs being written from memory
//! and `quarantine/` for blobs the registry found damaged (`<algorithm>-<hex>.<ms>`,
//! made when first needed; nothing reads it, an operator may look and remove). Every path is built from a validated digest or a registry-issued id, never
//! from raw request text.
//! Blobs of up to 64 KiB given whole (manifests, small blobs sent in one request) are
//! rows of `blobs/small.sqlite` instead (see [`pack`]): a file per small blob would
//! cost more in inodes and fsyncs than its bytes.
//!
//! A blob appears under its digest only by `rename` of a complete file (a packed one by
//! the commit of its row), so a crash leaves either nothing or the whole blob. In
//! durable mode the file is fsynced before the rename and its directory after, so what
//! was acknowledged survives a power cut.
//! An upload whose bytes this process has already fsynced (every durable append ends
//! with one) is not fsynced a second time at its commit: each fsync is a flush of the
//! disk's cache. A shard directory (`blobs/<algorithm>/<two hex>`) is made by the first
//! commit that finds it missing, so a commit costs no check of it.

mod append;
mod list;
mod pack;
mod read;
mod writeback;

use super::{AppendSource, BlobStore, ByteStream, StoredBlob};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashSet;
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::fs::{self, File};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use wharf_oci::{Algorithm, Digest};

/// Size of the buffers blobs are read with: large enough to keep syscalls rare.
const READ_BUFFER: usize = 256 * 1024;

/// A [`BlobStore`] on a local (or shared) filesystem.
pub struct FsBlobStore {
    root: PathBuf,
    durable: bool,
    pack: Arc<pack::LazyPack>,
    /// Uploads whose every byte this process has fsynced (durable mode), and whose
    /// length has not changed since: their commit needs no fsync of the file.
    synced: Mutex<HashSet<String>>,
}

impl FsBlobStore {
    /// Appends `source` to upload `id` at `offset`, synced before it returns if `sync`.
    async fn append(&self, id: &str, offset: u64, source: AppendSource<'_>, sync: bool) -> io::Result<u64> {
        let path = self.upload_path(id)?;
        let key = id.to_string();
        let id = id.to_string();
        // Whatever happens below changes the file: it is known synced again only once
        // a synced append has succeeded.
        self.forget_synced(&key);
        let file = blocking(move || {
            let mut file = std::fs::OpenOptions::new().write(true).create(offset == 0).open(path)?;
            let len = file.metadata()?.len();
            if len < offset {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("upload {id} holds {len} bytes, {offset} were recorded"),
                ));
            }
            if len > offset {
                file.set_len(offset)?;
            }
            std::io::Seek::seek(&mut file, SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await?;
        let appended = append::write_all(file, offset, source, sync).await?;
        if sync {
            // `write_all` fsyncs the file before it reports success when syncing.
            self.synced.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
        }
        Ok(appended)
    }
    /// Opens (creating if needed) a store under `root`. With `durable`, every commit is
    /// fsynced (file and directory) before it is reported done.
    pub async fn open(root: impl Into<PathBuf>, durable: bool) -> io::Result<FsBlobStore> {
        let root = root.into();
        for dir in [root.join("uploads"), root.join("tmp")] {
            fs::create_dir_all(&dir).await?;
        }
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            fs::create_dir_all(root.join("blobs").join(algorithm.as_str())).await?;
        }
        let pack = Arc::new(pack::LazyPack::new(root.join("blobs").join("small.sqlite"), durable));
        let opening = pack.clone();
        blocking(move || opening.open_if_present()).await?;
        let store = FsBlobStore {
            root,
            durable,
            pack,
            synced: Default::default(),
        };
        // Half-written small blobs of a previous run: never visible, safe to drop.
        let mut tmp = fs::read_dir(store.tmp_dir()).await?;
        while let Some(entry) = tmp.next_entry().await? {
            let _ = fs::remove_file(entry.path()).await;
        }
        Ok(store)
    }

    fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn upload_path(&self, id: &str) -> io::Result<PathBuf> {
        let safe = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid upload id"));
        }
        Ok(self.uploads_dir().join(id))
    }

    /// Drops `id` from the uploads known synced; whether it was there.
    fn forget_synced(&self, id: &str) -> bool {
        self.synced.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    fn quarantine_path(&self, digest: &Digest) -> PathBuf {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        self.root
            .join("quarantine")
            .join(format!("{}-{}.{millis}", digest.algorithm().as_str(), digest.hex()))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }
}

/// Moves the complete file `from` (open as `file`) to `target`, durably in durable
/// mode; `needs_sync` is false when the file's bytes are known to be on disk already.
/// Blocking: called inside one `spawn_blocking` with the rest of a commit, so a commit
/// is one trip to the blocking pool rather than one per system call.
fn publish(file: &std::fs::File, from: &Path, target: &Path, durable: bool, needs_sync: bool) -> io::Result<()> {
    if durable && needs_sync {
        file.sync_data()?;
    }
    let shard = target.parent().expect("blob paths have a parent");
    if let Err(e) = std::fs::rename(from, target) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
        // The shard's first blob: its directory is made (durably) now. Another commit
        // may be making it at the same moment, which `create_dir_all` accepts; asking
        // whether it exists instead would fail whichever commit lost that race.
        std::fs::create_dir_all(shard)?;
        if durable {
            sync_dir(shard.parent().expect("shards have a parent"))?;
        }
        std::fs::rename(from, target)?;
    }
    if durable {
        sync_dir(shard)?;
    }
    Ok(())
}

/// Makes a directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// Whether `path` is a file of `len` bytes: a blob stored whole. One of another length
/// was damaged outside wharf, and is replaced by the next commit of its digest.
fn holds(path: &Path, len: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == len)
}

fn not_found_is_ok(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Where a blob's bytes were found.
enum Stored {
    Packed(Bytes),
    File(std::fs::File),
}

impl FsBlobStore {
    /// Stores a small blob in the pack unless it is stored already (packed or as a file:
    /// the first bytes stay). The file of the upload `upload` it was sent for, if that
    /// upload ever got one, is removed in the same trip as the check: it holds nothing
    /// the session recorded (the upload is empty, or the blob came whole).
    async fn pack_blob(&self, digest: &Digest, bytes: Bytes, upload: Option<PathBuf>) -> io::Result<()> {
        let (pack, key, file) = (self.pack.clone(), digest.clone(), self.blob_path(digest));
        let len = bytes.len() as u64;
        let stored = blocking(move || {
            if let Some(upload) = upload {
                not_found_is_ok(std::fs::remove_file(upload))?;
            }
            Ok(pack.size(&key)?.is_some() || holds(&file, len))
        })
        .await?;
        if !stored {
            self.pack.insert(digest, bytes).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    #[tracing::instrument(level = "debug", name = "blobs.blob_size", skip_all)]
    async fn blob_size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        let (pack, digest, path) = (self.pack.clone(), digest.clone(), self.blob_path(digest));
        blocking(move || {
            if let Some(size) = pack.size(&digest)? {
                return Ok(Some(size));
            }
            match std::fs::metadata(path) {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "blobs.read_blob", skip_all)]
    async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> io::Result<ByteStream> {
        let (pack, digest, path) = (self.pack.clone(), digest.clone(), self.blob_path(digest));
        // A range reaching past the pack's limit is of a blob too large to be packed.
        let may_be_packed = range.end <= pack::PACKED_MAX as u64;
        let found = blocking(move || {
            let packed = if may_be_packed { pack.bytes(&digest)? } else { None };
            match packed {
                Some(bytes) => Ok(Stored::Packed(bytes)),
                None => std::fs::File::open(path).map(Stored::File),
            }
        })
        .await?;
        Ok(match found {
            Stored::Packed(bytes) => super::range_of(&bytes, range),
            Stored::File(file) => read::stream(file, range.start, range.end.saturating_sub(range.start)),
        })
    }

    #[tracing::instrument(level = "debug", name = "blobs.put_blob", skip_all)]
    async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        if bytes.len() <= pack::PACKED_MAX {
            return self.pack_blob(digest, bytes, None).await;
        }
        let target = self.blob_path(digest);
        let tmp = self.tmp_dir().join(uuid::Uuid::new_v4().simple().to_string());
        let durable = self.durable;
        blocking(move || {
            if holds(&target, bytes.len() as u64) {
                return Ok(());
            }
            let written = std::fs::File::create(&tmp).and_then(|mut file| {
                std::io::Write::write_all(&mut file, &bytes)?;
                publish(&file, &tmp, &target, durable, true)
            });
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "blobs.delete_blob", skip_all)]
    async fn delete_blob(&self, digest: &Digest) -> io::Result<()> {
        self.pack.remove(digest).await?;
        not_found_is_ok(fs::remove_file(self.blob_path(digest)).await)
    }

    /// Moves the blob's file (or writes its packed bytes) to `quarantine/`, then removes
    /// the packed row: the bad bytes stay for an operator to look at, out of reach.
    #[tracing::instrument(level = "debug", name = "blobs.quarantine_blob", skip_all)]
    async fn quarantine_blob(&self, digest: &Digest) -> io::Result<bool> {
        let (pack, key, file) = (self.pack.clone(), digest.clone(), self.blob_path(digest));
        let aside = self.quarantine_path(digest);
        let packed_aside = PathBuf::from(format!("{}.packed", aside.display()));
        let (packed, moved) = blocking(move || {
            let dir = aside.parent().expect("quarantine paths have a parent");
            std::fs::create_dir_all(dir)?;
            let packed = match pack.bytes(&key)? {
                Some(bytes) => {
                    std::fs::write(&packed_aside, &bytes)?;
                    true
                }
                None => false,
            };
            let moved = match std::fs::rename(&file, &aside) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(e),
            };
            Ok((packed, moved))
        })
        .await?;
        if packed {
            self.pack.remove(digest).await?;
        }
        Ok(packed || moved)
    }

    /// Nothing is written: an upload's file is made by its first append, so an upload
    /// closed by one request carrying a small blob (the common monolithic push) never
    /// costs an inode. Creating and removing a file per push is what bounded small
    /// pushes: on ext4 each new inode is searched for past recently deleted ones.
    #[tracing::instrument(level = "debug", name = "blobs.create_upload", skip_all)]
    async fn create_upload(&self, id: &str) -> io::Result<()> {
        self.upload_path(id).map(|_| ())
    }

    #[tracing::instrument(level = "debug", name = "blobs.append_upload", skip_all)]
    async fn append_upload(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.append(id, offset, source, self.durable).await
    }

    /// Written to the page cache only: `commit_upload` syncs the file, as it does any
    /// upload not known synced.
    #[tracing::instrument(level = "debug", name = "blobs.append_upload_until_commit", skip_all)]
    async fn append_upload_until_commit(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        self.append(id, offset, source, false).await
    }

    #[tracing::instrument(level = "debug", name = "blobs.upload_len", skip_all)]
    async fn upload_len(&self, id: &str) -> io::Result<u64> {
        match fs::metadata(self.upload_path(id)?).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(level = "debug", name = "blobs.read_upload", skip_all)]
    async fn read_upload(&self, id: &str, len: u64) -> io::Result<ByteStream> {
        match File::open(self.upload_path(id)?).await {
            Ok(file) => Ok(ReaderStream::with_capacity(file.take(len), READ_BUFFER).boxed()),
            // Never appended to: an empty upload.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(futures::stream::empty().boxed()),
            Err(e) => Err(e),
        }
    }

    async fn read_upload_range(&self, id: &str, range: Range<u64>) -> io::Result<ByteStream> {
        let path = self.upload_path(id)?;
        let file = blocking(move || std::fs::File::open(path)).await?;
        Ok(read::stream(file, range.start, range.end.saturating_sub(range.start)))
    }

    #[tracing::instrument(level = "debug", name = "blobs.commit_upload", skip_all)]
    async fn commit_upload(&self, id: &str, len: u64, digest: &Digest) -> io::Result<()> {
        let path = self.upload_path(id)?;
        let was_synced = self.forget_synced(id);
        if len == 0 {
            // Nothing was appended, so there may be no file: the empty blob is packed.
            return self.pack_blob(digest, Bytes::new(), Some(path)).await;
        }
        let target = self.blob_path(digest);
        let durable = self.durable;
        // Only a blob within the pack's limit can be packed already.
        let may_be_packed = len <= pack::PACKED_MAX as u64;
        let (pack, digest, id) = (self.pack.clone(), digest.clone(), id.to_string());
        blocking(move || {
            if (may_be_packed && pack.size(&digest)?.is_some()) || holds(&target, len) {
                return not_found_is_ok(std::fs::remove_file(&path));
            }
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            let actual = file.metadata()?.len();
            if actual < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("upload {id} is short"),
                ));
            }
            if actual > len {
                file.set_len(len)?;
            }
            let needs_sync = !(was_synced && actual == len);
            publish(&file, &path, &target, durable, needs_sync)
        })
        .await
    }

    /// Packed when small (see [`pack`]); otherwise one trip to the blocking pool: write,
    /// fsync, rename, fsync the directory.
    #[tracing::instrument(level = "debug", name = "blobs.commit_whole_upload", skip_all)]
    async fn commit_whole_upload(&self, id: &str, bytes: Bytes, digest: &Digest) -> io::Result<()> {
        let path = self.upload_path(id)?;
        self.forget_synced(id);
        if bytes.len() <= pack::PACKED_MAX {
            return self.pack_blob(digest, bytes, Some(path)).await;
        }
        let target = self.blob_path(digest);
        let durable = self.durable;
        blocking(move || {
            if holds(&target, bytes.len() as u64) {
                return not_found_is_ok(std::fs::remove_file(&path));
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            publish(&file, &path, &target, durable, true)
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "blobs.delete_upload", skip_all)]
    async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.forget_synced(id);
        not_found_is_ok(fs::remove_file(self.upload_path(id)?).await)
    }

    #[tracing::instrument(level = "debug", name = "blobs.list_blobs", skip_all)]
    async fn list_blobs(&self) -> io::Result<Vec<StoredBlob>> {
        let (pack, blobs) = (self.pack.clone(), self.root.join("blobs"));
        blocking(move || {
            let mut found = list::files(&blobs)?;
            found.extend(pack.list()?);
            Ok(found)
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "blobs.list_uploads", skip_all)]
    async fn list_uploads(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut dir = fs::read_dir(self.uploads_dir()).await?;
        while let Some(entry) = dir.next_entry().await? {
            if let Some(name) = entry.file_name().to_str() {
                ids.push(name.to_string());
            }
        }
        Ok(ids)
    }
}
