//! Writing an upload's incoming bytes to its file.
//!
//! Pieces of the body are gathered into batches of about [`BATCH`] bytes and each batch
//! is handed to one blocking call, which writes it through the upload's
//! [`UploadWriter`] (direct I/O from an aligned buffer where the filesystem allows it).
//! While one batch is being written the next is gathered, so receiving (and hashing,
//! upstream) and writing overlap.

use bytes::Bytes;
use futures::StreamExt;
use std::io;
use tokio::task::JoinHandle;

use super::direct::UploadWriter;
use crate::storage::AppendSource;

/// Bytes gathered before a write: large enough to make blocking-pool trips rare, small
/// enough to keep memory per upload low.
const BATCH: usize = 1024 * 1024;

/// A batch being written; gives the writer back with the outcome.
type Writing = JoinHandle<(UploadWriter, io::Result<()>)>;

/// Appends everything `source` yields through `writer` (opened at `offset`), which
/// fsyncs at the end when durable. Returns the number of bytes appended; on any failure
/// the file is cut back to `offset`, so a failed request leaves the upload as it was.
pub async fn write_all(writer: UploadWriter, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
    let mut idle = Some(writer);
    let mut writing: Option<Writing> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut gathered = 0usize;
    let mut written = 0u64;
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
            Some(Err(e)) => {
                failure = Some(e);
                true
            }
            None => true,
        };
        if !done && gathered < BATCH {
            continue;
        }
        // Wait for the previous batch before starting the next: writes stay in order.
        let writer = match writing.take() {
            Some(handle) => match finish(handle).await {
                (writer, Ok(())) => writer,
                (writer, Err(e)) => {
                    idle = writer;
                    failure.get_or_insert(e);
                    break;
                }
            },
            None => idle.take(),
        };
        let Some(mut writer) = writer else { break };
        if failure.is_some() {
            idle = Some(writer);
            break;
        }
        let pieces = std::mem::take(&mut batch);
        gathered = 0;
        let last = done;
        writing = Some(tokio::task::spawn_blocking(move || {
            let mut result = writer.write(&pieces);
            drop(pieces);
            if last && result.is_ok() {
                result = writer.finish();
            }
            (writer, result)
        }));
        if done {
            let (writer, result) = finish(writing.take().expect("just started")).await;
            idle = writer;
            if let Err(e) = result {
                failure = Some(e);
            }
            break;
        }
    }
    match failure {
        None => Ok(written),
        Some(e) => {
            if let Some(writer) = idle {
                let _ = tokio::task::spawn_blocking(move || writer.into_file().set_len(offset)).await;
            }
            Err(e)
        }
    }
}

/// The outcome of a batch write; `None` for the writer only if the blocking task itself
/// was lost (then nothing more can be done with it).
async fn finish(handle: Writing) -> (Option<UploadWriter>, io::Result<()>) {
    match handle.await {
        Ok((writer, result)) => (Some(writer), result),
        Err(e) => (None, Err(io::Error::other(e))),
    }
}
