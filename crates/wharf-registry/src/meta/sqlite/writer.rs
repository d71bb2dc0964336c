//! The writer thread: group commit of every write waiting at the time.
//!
//! In durable mode each SQLite commit costs an fsync of the WAL, a few milliseconds on
//! common disks. Committing writes one by one caps a registry at a few hundred pushes a
//! second however many clients push at once. Here the thread owning the write
//! connection takes all writes queued while it was busy, runs each inside a savepoint of
//! one transaction (a write that fails rolls back alone), commits once, and only then
//! answers each caller: nobody hears "done" before their change is durable.
//!
//! Some writes need not survive a power cut: an upload session's creation, progress and
//! removal (after a power cut the client restarts or resumes from the recorded offset,
//! and the file is cut back to it). A group holding only such writes commits without the
//! fsync (`synchronous=NORMAL`; it still survives a crash of the process, and the next
//! fsynced commit makes it durable too). A group with any other write is fsynced.

use rusqlite::Connection;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// At most this many writes share one commit, so one commit never grows unbounded.
const MAX_GROUP: usize = 256;

/// What a write reports after the group's commit: its own result, or the commit's error.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write as the thread runs it: applied to the open transaction, it returns how to
/// report its outcome once the commit is known.
struct Job {
    /// Whether the commit holding it must be fsynced (in durable mode).
    durable: bool,
    run: Box<dyn FnOnce(&Connection) -> Completion + Send>,
}

/// How much a write must survive once its caller hears back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Survives {
    /// A power cut, in durable mode: the commit is fsynced.
    PowerCut,
    /// A crash of the process only.
    Crash,
}

/// A handle to the writer thread; the thread ends when the handle is dropped.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread that owns `connection`; `durable` as the store was opened.
    pub fn start(connection: Connection, durable: bool) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wharf-sqlite-writer".into())
            .spawn(move || run(connection, durable, queue))?;
        Ok(Writer { jobs })
    }

    /// Runs `f` in the next group commit; resolves once that commit is done.
    pub async fn write<T: Send + 'static>(
        &self,
        survives: Survives,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let (answer, answered) = oneshot::channel::<Result<T, String>>();
        let job = Job {
            durable: survives == Survives::PowerCut,
            run: Box::new(move |conn: &Connection| {
                let result = in_savepoint(conn, f).map_err(|e| e.to_string());
                Box::new(move |committed: Result<(), String>| {
                    let _ = answer.send(committed.and(result));
                })
            }),
        };
        self.jobs
            .send(job)
            .map_err(|_| "the metadata writer has stopped".to_string())?;
        answered
            .await
            .map_err(|_| "the metadata write could not be started".to_string())?
    }
}

/// `f` inside a savepoint: its changes stay in the transaction only if it succeeds.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    conn.execute_batch("SAVEPOINT one_write")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE one_write")?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO one_write; RELEASE one_write");
            Err(e)
        }
    }
}

fn run(conn: Connection, durable: bool, queue: mpsc::Receiver<Job>) {
    let mut fsyncing = durable;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let fsync = durable && group.iter().any(|job| job.durable);
        if fsync != fsyncing {
            let mode = if fsync { "FULL" } else { "NORMAL" };
            if let Err(e) = conn.pragma_update(None, "synchronous", mode) {
                tracing::error!("cannot set synchronous={mode}: {e}");
            } else {
                fsyncing = fsync;
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs unrun tells each caller its write did not happen.
            tracing::error!("{} metadata writes not started: {e}", group.len());
            continue;
        }
        let completions: Vec<Completion> = group.into_iter().map(|job| (job.run)(&conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for complete in completions {
            complete(committed.clone());
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
        (Writer::start(conn, true).unwrap(), dir)
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
}
