//! Writing an upload's incoming bytes to its file.
//!
//! Pieces of the body are gathered into batches of about [`BATCH`] bytes and each batch
//! is written by one blocking call, straight from the body's own buffers (no copy into
//! an intermediate file buffer). While one batch is being written the next is gathered,
//! so receiving (and hashing, upstream) and writing overlap. In durable mode each batch's
//! disk write is started as soon as it is written ([`writeback`]), so the fsync that
//! ends the append waits for the last batch only.

use bytes::Bytes;
use futures::StreamExt;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use tokio::task::JoinHandle;

use super::writeback;
use crate::storage::AppendSource;

/// Bytes gathered before a write: large enough to make blocking-pool trips and write
/// calls rare, small enough to keep memory per upload low.
const BATCH: usize = 1024 * 1024;

/// A batch being written; gives the file back with the outcome.
type Writing = JoinHandle<(File, io::Result<()>)>;

/// Appends everything `source` yields to `file` (positioned at `offset`), fsyncing at
/// the end when `durable`. Returns the number of bytes appended. A source that fails
/// ends the append there: every byte it yielded before is written (and synced) and
/// counted, so a body cut off keeps what arrived. A failure to write cuts the file back
/// to `offset`, leaving the upload as it was.
pub async fn write_all(file: File, offset: u64, source: AppendSource<'_>, durable: bool) -> io::Result<u64> {
    let mut idle = Some(file);
    let mut writing: Option<Writing> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut gathered = 0usize;
    let mut written = 0u64;
    // File ranges of the batches whose writeback was started and not yet waited for.
    let mut in_flight: VecDeque<(u64, u64)> = VecDeque::new();
    let mut failure: Option<io::Error> = None;
    loop {
        let piece = source.next().await;
        let done = match piece {
            Some(Ok(bytes)) => {
                gathered += bytes.len();
                written += bytes.len() as u64;
                batch.push(bytes);
                false
            }
            // The body broke off: what it gave so far is kept, as if it had ended here.
            Some(Err(_)) => true,
            None => true,
        };
        if !done && gathered < BATCH {
            continue;
        }
        // Wait for the previous batch before starting the next: writes stay in order.
        let file = match writing.take() {
            Some(handle) => match finish(handle).await {
                (file, Ok(())) => file,
                (file, Err(e)) => {
                    idle = file;
                    failure.get_or_insert(e);
                    break;
                }
            },
            None => idle.take(),
        };
        let Some(mut file) = file else { break };
        if failure.is_some() {
            idle = Some(file);
            break;
        }
        let pieces = std::mem::take(&mut batch);
        let range = (offset + written - gathered as u64, gathered as u64);
        gathered = 0;
        let last = done;
        in_flight.push_back(range);
        let wait_for = (in_flight.len() > writeback::BATCHES_IN_FLIGHT)
            .then(|| in_flight.pop_front())
            .flatten();
        writing = Some(tokio::task::spawn_blocking(move || {
            let result = pieces
                .iter()
                .try_for_each(|piece| file.write_all(piece))
                .and_then(|()| {
                    if !durable {
                        Ok(())
                    } else if last {
                        file.sync_data()
                    } else {
                        writeback::write_behind(&file, range, wait_for)
                    }
                });
            (file, result)
        }));
        if done {
            let (file, result) = finish(writing.take().expect("just started")).await;
            idle = file;
            if let Err(e) = result {
                failure = Some(e);
            }
            break;
        }
    }
    match failure {
        None => Ok(written),
        Some(e) => {
            if let Some(file) = idle {
                let _ = tokio::task::spawn_blocking(move || file.set_len(offset)).await;
            }
            Err(e)
        }
    }
}

/// The outcome of a batch write; `None` for the file only if the blocking task itself
/// was lost (then nothing more can be done with it).
async fn finish(handle: Writing) -> (Option<File>, io::Result<()>) {
    match handle.await {
        Ok((file, result)) => (Some(file), result),
        Err(e) => (None, Err(io::Error::other(e))),
    }
}
