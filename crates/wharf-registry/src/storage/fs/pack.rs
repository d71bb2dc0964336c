//! Small blobs given whole, kept as rows of one SQLite database instead of files.
//!
//! A blob in a file of its own costs an inode, an fsync of the file and one of its
//! directory: for a 4 KiB layer or a manifest that is nearly all of its push. A row in
//! the pack costs a share of one group commit (see [`crate::sqlite::writer`]): small
//! blobs pushed at the same time share one WAL fsync. Only blobs that arrive whole in
//! memory (manifests, and blobs sent in one request) of at most [`PACKED_MAX`] bytes are
//! packed; streamed uploads stay files, renamed into place.
//!
//! A row is visible only once its commit is, and in durable mode an insert is answered
//! only once that commit is synced, so a packed blob has the same guarantees as a file
//! renamed into place: invisible until whole, and durable once acknowledged.

use crate::sqlite::{Readers, Survives, WriteError, Writer};
use bytes::Bytes;
use rusqlite::{params, OptionalExtension};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wharf_oci::Digest;

/// The largest blob kept in the pack: far above manifests and image configs, small
/// enough that reading one whole into memory is always fine.
pub(super) const PACKED_MAX: usize = 64 * 1024;

/// Read connections: packed blobs are read on the blocking pool, a few at a time.
const READERS: usize = 2;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, bytes BLOB NOT NULL);";

/// The pack, opened when first needed: a registry that has packed nothing keeps no
/// connection or thread for it. One that exists is opened when the store is (see
/// [`LazyPack::open_if_present`]), so a damaged pack stops the start, as a damaged
/// metadata database does, rather than failing requests later.
pub(super) struct LazyPack {
    path: PathBuf,
    durable: bool,
    opened: Mutex<Option<Arc<Pack>>>,
}

impl LazyPack {
    /// The pack at `path`; nothing is opened or created yet.
    pub(super) fn new(path: PathBuf, durable: bool) -> LazyPack {
        LazyPack {
            path,
            durable,
            opened: Mutex::new(None),
        }
    }

    /// Opens the pack now if it exists on disk; called once, when the store opens.
    /// Blocking.
    pub(super) fn open_if_present(&self) -> io::Result<()> {
        if self.path.try_exists()? {
            self.open()?;
        }
        Ok(())
    }

    /// The pack, opened (and created) now if it was not. Blocking.
    fn open(&self) -> io::Result<Arc<Pack>> {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pack) = &*opened {
            return Ok(pack.clone());
        }
        let pack = Arc::new(Pack::open(self.path.clone(), self.durable)?);
        Ok(opened.insert(pack).clone())
    }

    /// The pack if it exists: `None` while no blob was ever packed here. Another
    /// process on the same directory (a second replica, `wharf gc`) may have created it
    /// since this store opened, so until it is open, each call looks for it on disk (a
    /// `stat`, only while nothing was ever packed). Blocking.
    fn existing(&self) -> Option<Arc<Pack>> {
        if let Some(pack) = &*self.opened.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(pack.clone());
        }
        match self.path.try_exists() {
            Ok(true) => self.open().ok(),
            _ => None,
        }
    }

    /// See [`Pack::insert`].
    pub(super) async fn insert(self: &Arc<Self>, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        let lazy = self.clone();
        let pack = tokio::task::spawn_blocking(move || lazy.open())
            .await
            .map_err(io::Error::other)??;
        pack.insert(digest, bytes).await
    }

    /// See [`Pack::remove`].
    pub(super) async fn remove(self: &Arc<Self>, digest: &Digest) -> io::Result<()> {
        let lazy = self.clone();
        let existing = tokio::task::spawn_blocking(move || lazy.existing())
            .await
            .map_err(io::Error::other)?;
        match existing {
            Some(pack) => pack.remove(digest).await,
            None => Ok(()),
        }
    }

    /// See [`Pack::bytes`]. Blocking.
    pub(super) fn bytes(&self, digest: &Digest) -> io::Result<Option<Bytes>> {
        match self.existing() {
            Some(pack) => pack.bytes(digest),
            None => Ok(None),
        }
    }

    /// Every packed blob (their write time is not kept). Blocking.
    pub(super) fn list(&self) -> io::Result<Vec<super::StoredBlob>> {
        let Some(pack) = self.existing() else {
            return Ok(Vec::new());
        };
        pack.readers
            .read(|conn| {
                let mut stmt = conn.prepare("SELECT digest, length(bytes) FROM blobs")?;
                let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(io_err)
            .map(|rows| {
                rows.into_iter()
                    .filter_map(|(digest, size)| {
                        Some(super::StoredBlob {
                            digest: digest.parse().ok()?,
                            size: size as u64,
                            written: None,
                        })
                    })
                    .collect()
            })
    }

    /// See [`Pack::size`]. Blocking.
    pub(super) fn size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        match self.existing() {
            Some(pack) => pack.size(digest),
            None => Ok(None),
        }
    }
}

/// The pack database and its writer thread.
struct Pack {
    writer: Writer,
    readers: Readers,
}

fn io_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(e)
}

impl Pack {
    /// Opens (creating if needed) the pack at `path`. Blocking.
    fn open(path: PathBuf, durable: bool) -> io::Result<Pack> {
        let writer = crate::sqlite::start_writer(&path, SCHEMA, "small-blob pack", durable).map_err(io_err)?;
        Ok(Pack {
            writer,
            readers: Readers::new(path, READERS),
        })
    }

    /// Stores `bytes` as the blob `digest` unless the pack has it already (content
    /// addressing: the first bytes stay). Durable once it returns, in durable mode.
    async fn insert(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        let key = digest.to_string();
        self.writer
            .write(Survives::PowerCut, move |conn| {
                conn.prepare_cached("INSERT OR IGNORE INTO blobs (digest, bytes) VALUES (?1, ?2)")?
                    .execute(params![key, &bytes[..]])
            })
            .await
            .map(|_| ())
            .map_err(WriteError::into_io)
    }

    /// Removes the blob `digest`; removing an absent one is not an error. A removal lost
    /// to a power cut only brings back bytes nothing refers to.
    async fn remove(&self, digest: &Digest) -> io::Result<()> {
        let key = digest.to_string();
        self.writer
            .write(Survives::Crash, move |conn| {
                conn.prepare_cached("DELETE FROM blobs WHERE digest = ?1")?
                    .execute([key])
            })
            .await
            .map(|_| ())
            .map_err(WriteError::into_io)
    }

    /// The bytes of the blob `digest`, if packed. Blocking.
    fn bytes(&self, digest: &Digest) -> io::Result<Option<Bytes>> {
        let key = digest.to_string();
        self.readers
            .read(|conn| {
                conn.prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?
                    .query_row([key], |row| row.get::<_, Vec<u8>>(0))
                    .optional()
            })
            .map(|found| found.map(Bytes::from))
            .map_err(io_err)
    }

    /// The size of the blob `digest`, if packed. Blocking.
    fn size(&self, digest: &Digest) -> io::Result<Option<u64>> {
        let key = digest.to_string();
        self.readers
            .read(|conn| {
                conn.prepare_cached("SELECT length(bytes) FROM blobs WHERE digest = ?1")?
                    .query_row([key], |row| row.get::<_, i64>(0))
                    .optional()
            })
            .map(|found| found.map(|n| n as u64))
            .map_err(io_err)
    }
}
