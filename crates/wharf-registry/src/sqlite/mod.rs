//! SQLite as wharf's stores use it: WAL-mode connections, a lazily opened pool of
//! read connections, and the group-committing writer thread ([`writer`]).
//!
//! Both the metadata store and the file blob store's pack of small blobs keep an
//! embedded database this way: one writer thread, so concurrent requests share one
//! commit and one fsync, and readers that never wait for it.

pub(crate) mod writer;

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub(crate) use writer::{Survives, WriteError, Writer};

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Opens `path` in WAL mode. Commits do not fsync by themselves (`synchronous=NORMAL`):
/// durability is the [`Writer`]'s syncer's business.
fn open_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    // Room for every statement a store runs (rusqlite keeps 16 by default): one pushed
    // out is parsed again on its next use.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// The WAL file SQLite keeps beside the database at `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Opens `path` for writing and starts its writer thread, named after `what` in errors;
/// in durable mode (`durable`) writes that must survive a power cut wait for a WAL sync.
pub(crate) fn start_writer(path: &Path, schema: &str, what: &'static str, durable: bool) -> rusqlite::Result<Writer> {
    let conn = open_connection(path, OpenFlags::default())?;
    conn.execute_batch(schema)?;
    let wal = durable.then(|| wal_path(path));
    Writer::start(conn, wal, what).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

/// Read-only connections, each opened when a read first needs it: an idle registry
/// keeps none of their memory. Reads are spread over them in turn.
pub(crate) struct Readers {
    path: PathBuf,
    slots: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

impl Readers {
    pub(crate) fn new(path: PathBuf, count: usize) -> Readers {
        Readers {
            path,
            slots: (0..count.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on one of the connections. Blocking: call it on a blocking thread.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().unwrap_or_else(|p| p.into_inner());
        let conn = match slot.take() {
            Some(conn) => conn,
            None => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                open_connection(&self.path, flags)?
            }
        };
        f(slot.insert(conn))
    }
}
