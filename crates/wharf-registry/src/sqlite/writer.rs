//! The writer thread: group commit of every write waiting at the time, and a syncer
//! thread that makes committed groups durable together.
//!
//! In durable mode each commit must reach the disk before its caller hears back, an
//! fsync of a few milliseconds. Committing writes one by one caps a registry at a few
//! hundred pushes a second however many clients push at once. Here the thread owning
//! the write connection takes all writes queued while it was busy, runs each inside a
//! savepoint of one transaction (a write that fails rolls back alone) and commits once.
//!
//! The commit itself does not fsync (`synchronous=NORMAL`: the WAL is written, not
//! synced; checkpoints still sync, so the database stays consistent whatever happens).
//! Committed groups go to the syncer thread, which takes every group committed so far,
//! fdatasyncs the WAL file once, and only then answers their callers: nobody hears
//! "done" before their change is durable. While the syncer waits for the disk the
//! writer already runs and commits the next writes, so the disk is never idle while
//! writes wait and one fsync covers every group committed during the previous one.
//! SQLite's WAL is replayed in order and stops at the first frame that did not reach
//! the disk, so what survives a power cut is always a prefix of the commits: a synced
//! commit brings every earlier one with it.
//!
//! A committed change is visible to readers as soon as it is committed, up to one fsync
//! before its caller hears back; after a power cut in that window it is gone, as if the
//! request had failed (its client got no answer). Nothing partial is ever visible.
//!
//! Some writes need not survive a power cut: an upload session's creation, progress and
//! removal (after a power cut the client restarts or resumes from the recorded offset,
//! and the file is cut back to it). Their callers hear back right after the commit,
//! without waiting for a sync (they survive a crash of the process, and the next sync
//! makes them durable too).

use rusqlite::Connection;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// At most this many writes share one commit, so one commit never grows unbounded.
const MAX_GROUP: usize = 256;

/// Why a write failed: a message naming the database, and whether the cause was a full
/// disk (SQLITE_FULL, or ENOSPC while syncing), which the registry answers as such.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WriteError {
    message: String,
    out_of_space: bool,
}

impl WriteError {
    fn other(message: String) -> WriteError {
        WriteError {
            message,
            out_of_space: false,
        }
    }

    fn sqlite(e: &rusqlite::Error) -> WriteError {
        WriteError {
            message: e.to_string(),
            out_of_space: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
        }
    }

    /// Whether the disk was full.
    pub fn is_out_of_space(&self) -> bool {
        self.out_of_space
    }

    /// As an I/O error, of kind `StorageFull` when the disk was full.
    pub fn into_io(self) -> io::Error {
        if self.out_of_space {
            io::Error::new(io::ErrorKind::StorageFull, self)
        } else {
            io::Error::other(self)
        }
    }
}

/// What a write reports after the group's commit: its own result, or the commit's error.
type Completion = Box<dyn FnOnce(Result<(), WriteError>) + Send>;
/// A write as the thread runs it: applied to the open transaction, it returns how to
/// report its outcome once the commit is known.
struct Job {
    /// Whether the caller must wait for the commit to be synced (in durable mode).
    durable: bool,
    run: Box<dyn FnOnce(&Connection) -> Completion + Send>,
}

/// How much a write must survive once its caller hears back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Survives {
    /// A power cut, in durable mode: the commit is synced first.
    PowerCut,
    /// A crash of the process only.
    Crash,
}

/// A handle to the writer thread; the thread ends when the handle is dropped.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// What the database holds, for error messages ("metadata", "small blobs").
    what: &'static str,
}

impl Writer {
    /// Starts the thread that owns `connection` (in WAL mode, `synchronous=NORMAL`).
    /// With `wal` (durable mode: the path of the database's `-wal` file) writes that
    /// must survive a power cut are answered only once the WAL is synced.
    pub fn start(connection: Connection, wal: Option<PathBuf>, what: &'static str) -> io::Result<Writer> {
        let sync = match wal {
            Some(path) => {
                let mut wal = WalFile { path, file: None };
                // Opened now so that a store that cannot sync fails at start, not later.
                wal.sync()?;
                Some(Box::new(move || wal.sync()) as SyncFn)
            }
            None => None,
        };
        Writer::start_with(connection, sync, what)
    }

    /// Like `start`, with `sync` as what makes the commits so far durable.
    fn start_with(connection: Connection, sync: Option<SyncFn>, what: &'static str) -> io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let syncer = match sync {
            Some(sync) => {
                let (committed, groups) = mpsc::channel::<Synced>();
                std::thread::Builder::new()
                    .name("wharf-sqlite-sync".into())
                    .spawn(move || sync_groups(sync, groups, what))?;
                Some(committed)
            }
            None => None,
        };
        std::thread::Builder::new()
            .name("wharf-sqlite-writer".into())
            .spawn(move || run(connection, queue, syncer, what))?;
        Ok(Writer { jobs, what })
    }

    /// Runs `f` in the next group commit; resolves once that commit is done (and, for
    /// [`Survives::PowerCut`] in durable mode, synced).
    pub async fn write<T: Send + 'static>(
        &self,
        survives: Survives,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, WriteError> {
        let (answer, answered) = oneshot::channel::<Result<T, WriteError>>();
        let job = Job {
            durable: survives == Survives::PowerCut,
            run: Box::new(move |conn: &Connection| {
                let result = in_savepoint(conn, f).map_err(|e| WriteError::sqlite(&e));
                Box::new(move |committed: Result<(), WriteError>| {
                    let _ = answer.send(committed.and(result));
                })
            }),
        };
        self.jobs
            .send(job)
            .map_err(|_| WriteError::other(format!("the {} writer has stopped", self.what)))?;
        answered
            .await
            .map_err(|_| WriteError::other(format!("the {} write could not be started", self.what)))?
    }
}

/// Runs one of the writer's own statements, parsed once per connection: every write
/// runs two and every group two more, so parsing them each time would be a visible
/// share of a small write's cost.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// `f` inside a savepoint: its changes stay in the transaction only if it succeeds.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    run_cached(conn, "SAVEPOINT one_write")?;
    match f(conn) {
        Ok(value) => {
            run_cached(conn, "RELEASE one_write")?;
            Ok(value)
        }
        Err(e) => {
            let _ = run_cached(conn, "ROLLBACK TO one_write").and_then(|()| run_cached(conn, "RELEASE one_write"));
            Err(e)
        }
    }
}

/// The callers of one committed group that wait for the sync.
type Synced = Vec<Completion>;
/// Makes every commit so far durable.
type SyncFn = Box<dyn FnMut() -> io::Result<()> + Send>;

fn run(conn: Connection, queue: mpsc::Receiver<Job>, syncer: Option<mpsc::Sender<Synced>>, what: &'static str) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let writes = group.len();
        if let Err(e) = run_cached(&conn, "BEGIN IMMEDIATE") {
            // Dropping the jobs unrun tells each caller its write did not happen.
            tracing::error!("{} {what} writes not started: {e}", group.len());
            continue;
        }
        let ran: Vec<(bool, Completion)> = group.into_iter().map(|job| (job.durable, (job.run)(&conn))).collect();
        let committed = run_cached(&conn, "COMMIT").map_err(|e| WriteError::sqlite(&e));
        if committed.is_err() {
            let _ = run_cached(&conn, "ROLLBACK");
        }
        crate::metrics::db_commit(what, writes, started.elapsed());
        let mut to_sync = Vec::new();
        for (durable, complete) in ran {
            match &syncer {
                Some(_) if durable && committed.is_ok() => to_sync.push(complete),
                _ => complete(committed.clone()),
            }
        }
        if let (Some(syncer), false) = (&syncer, to_sync.is_empty()) {
            if let Err(mpsc::SendError(lost)) = syncer.send(to_sync) {
                for complete in lost {
                    complete(Err(WriteError::other(format!("the {what} syncer has stopped"))));
                }
            }
        }
    }
}

/// The WAL file, opened again if SQLite ever replaced it.
struct WalFile {
    path: PathBuf,
    file: Option<File>,
}

impl WalFile {
    /// Makes everything written to the WAL so far durable.
    fn sync(&mut self) -> io::Result<()> {
        // A WAL removed (all of it checkpointed, by a last connection closing elsewhere)
        // leaves our handle on a file nobody reads: open the current one.
        let stale = match &self.file {
            Some(file) => file.metadata()?.nlink() == 0,
            None => true,
        };
        if stale {
            self.file = Some(File::open(&self.path)?);
        }
        self.file.as_ref().expect("just opened").sync_data()
    }
}

fn sync_groups(mut sync: SyncFn, groups: mpsc::Receiver<Synced>, what: &'static str) {
    while let Ok(first) = groups.recv() {
        // Every group received was committed before this sync starts, so it covers them.
        let mut waiting = first;
        while let Ok(more) = groups.try_recv() {
            waiting.extend(more);
        }
        let started = std::time::Instant::now();
        let synced = sync();
        crate::metrics::db_sync(what, started.elapsed());
        let synced = synced.map_err(|e| WriteError {
            message: format!("syncing the {what} WAL: {e}"),
            out_of_space: e.kind() == io::ErrorKind::StorageFull,
        });
        if let Err(e) = &synced {
            tracing::error!("{e}");
        }
        for complete in waiting {
            complete(synced.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        let wal = dir.path().join("db-wal");
        (Writer::start(conn, Some(wal), "test").unwrap(), dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land_and_a_failing_one_rolls_back_alone() {
        let (writer, dir) = writer();
        let writer = std::sync::Arc::new(writer);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let survives = if i % 2 == 0 {
                    Survives::PowerCut
                } else {
                    Survives::Crash
                };
                writer
                    .write(survives, move |c| {
                        c.execute("INSERT INTO t (k) VALUES (?1)", [format!("k{i}")])?;
                        if i % 10 == 0 {
                            // Violates the primary key: this write alone must vanish.
                            c.execute("INSERT INTO t (k) VALUES (?1)", [format!("k{i}")])?;
                        }
                        Ok(i)
                    })
                    .await
            }));
        }
        let mut failed = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        let conn = Connection::open(dir.path().join("db")).unwrap();
        let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 180);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_durable_write_is_answered_only_after_a_sync_that_saw_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        // Each "sync" records which rows were committed when it ran.
        let synced = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::<String>::new()));
        let syncs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (seen, count) = (synced.clone(), syncs.clone());
        let reader = Connection::open(&path).unwrap();
        let sync: SyncFn = Box::new(move || {
            std::thread::sleep(std::time::Duration::from_millis(2));
            let mut stmt = reader.prepare("SELECT k FROM t").unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
            seen.lock().unwrap().extend(rows.map(Result::unwrap));
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        let writer = std::sync::Arc::new(Writer::start_with(conn, Some(sync), "test").unwrap());
        let mut tasks = Vec::new();
        for i in 0..300 {
            let (writer, synced) = (writer.clone(), synced.clone());
            tasks.push(tokio::spawn(async move {
                let key = format!("k{i}");
                let k = key.clone();
                writer
                    .write(Survives::PowerCut, move |c| {
                        c.execute("INSERT INTO t (k) VALUES (?1)", [k])
                    })
                    .await
                    .unwrap();
                assert!(
                    synced.lock().unwrap().contains(&key),
                    "{key} answered before a sync covered it"
                );
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let syncs = syncs.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            syncs < 300,
            "{syncs} syncs for 300 concurrent writes: they were not grouped"
        );
    }
}
