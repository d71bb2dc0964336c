//! Streaming a blob file to a client.
//!
//! One blocking task produces the pieces and queues them; the queue holds [`AHEAD`]
//! pieces, so producing the next piece overlaps the sending of this one while memory
//! per download stays bounded. A client that goes away closes the queue and ends the
//! task.
//!
//! Large blobs are sent from memory maps of the file: the socket write copies straight
//! from the page cache, where reading into a buffer first would copy every byte twice
//! (a third of a download's CPU time). Each map is populated when it is made, in the
//! blocking task, so sending never waits on a page fault. Mapping is safe here because
//! a committed blob file never changes: it is written whole under another name, renamed
//! into place, and afterwards only ever unlinked, which keeps a mapped inode alive.
//! Small blobs, ranges too short to be worth a map, files that cannot be mapped and
//! files shorter than they should be are read into buffers instead.

use crate::storage::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use tokio::sync::mpsc;

/// Bytes per piece read into a buffer.
const PIECE: usize = 512 * 1024;
/// Bytes per memory map: large enough that mapping and unmapping are rare.
const WINDOW: u64 = 4 * 1024 * 1024;
/// Reads shorter than this go through a buffer.
const MAP_AT_LEAST: u64 = 1024 * 1024;
/// Pieces prepared ahead of the one being sent.
const AHEAD: usize = 2;

/// The bytes `start..start + len` of `file`.
pub fn stream(file: File, start: u64, len: u64) -> ByteStream {
    let (pieces, queue) = mpsc::channel::<io::Result<Bytes>>(AHEAD);
    tokio::task::spawn_blocking(move || produce(file, start, len, pieces));
    futures::stream::unfold(queue, |mut queue| async move {
        let piece = queue.recv().await?;
        Some((piece, queue))
    })
    .boxed()
}

fn produce(file: File, start: u64, len: u64, pieces: mpsc::Sender<io::Result<Bytes>>) {
    let end = start + len;
    let mut at = start;
    // Touching a mapped page past the end of the file kills the process (SIGBUS): a file
    // found shorter than the range (damaged outside wharf) is read instead, which reports it.
    if len >= MAP_AT_LEAST && file.metadata().is_ok_and(|m| m.len() >= end) {
        while at < end {
            let size = WINDOW.min(end - at);
            let Ok(map) = map(&file, at, size) else { break };
            if pieces.blocking_send(Ok(Bytes::from_owner(map))).is_err() {
                return;
            }
            at += size;
        }
    }
    if at < end {
        read_into(file, at, end - at, pieces);
    }
}

/// `size` bytes of `file` from `at`, mapped read-only with their pages in place.
fn map(file: &File, at: u64, size: u64) -> io::Result<memmap2::Mmap> {
    let len = usize::try_from(size).map_err(io::Error::other)?;
    // SAFETY: the file is a committed blob, which nobody writes or truncates (see the
    // module's doc), and it was found long enough: the mapped bytes stay valid and
    // unchanged while the map lives.
    unsafe { memmap2::MmapOptions::new().offset(at).len(len).populate().map(file) }
}

fn read_into(mut file: File, at: u64, len: u64, pieces: mpsc::Sender<io::Result<Bytes>>) {
    if let Err(e) = file.seek(SeekFrom::Start(at)) {
        let _ = pieces.blocking_send(Err(e));
        return;
    }
    let mut left = len;
    while left > 0 {
        let size = PIECE.min(left as usize);
        // Read into spare capacity: no zeroing pass over a buffer about to be filled.
        let mut buf = Vec::with_capacity(size);
        let piece = match (&mut file).take(size as u64).read_to_end(&mut buf) {
            Ok(n) if n == size => Ok(Bytes::from(buf)),
            Ok(n) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the blob file ended {} bytes early", left - n as u64),
            )),
            Err(e) => Err(e),
        };
        let failed = piece.is_err();
        if pieces.blocking_send(piece).is_err() || failed {
            return;
        }
        left -= size as u64;
    }
}
