//! Streaming a blob file to a client.
//!
//! Each piece is prepared on a blocking thread of its own, [`AHEAD`] pieces ahead of
//! the one being sent, so preparing overlaps sending while memory per download stays
//! bounded. No thread waits for the client: a blocking thread is taken only while a
//! piece is prepared, and a client that reads slowly (or not at all) holds prepared
//! pieces, never a thread. (A task that queued its pieces from one blocking thread for
//! the whole download let a few hundred connections that never read take every
//! blocking thread, and with them every other download and upload.) A client that goes
//! away drops the stream, and the pieces being prepared with it.
//!
//! Large blobs are sent from memory maps of the file: the socket write copies straight
//! from the page cache, where reading into a buffer first would copy every byte twice
//! (a third of a download's CPU time). Each map is populated when it is made, on the
//! blocking thread, so sending never waits on a page fault. Mapping is safe here
//! because a committed blob file never changes: it is written whole under another name,
//! renamed into place, and afterwards only ever unlinked, which keeps a mapped inode
//! alive. Small blobs, ranges too short to be worth a map, files that cannot be mapped
//! and files shorter than they should be are read into buffers instead.

use crate::storage::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Bytes per piece read into a buffer.
const PIECE: usize = 512 * 1024;
/// Bytes per memory map: large enough that mapping and unmapping are rare.
const WINDOW: u64 = 4 * 1024 * 1024;
/// Reads shorter than this go through a buffer.
const MAP_AT_LEAST: u64 = 1024 * 1024;
/// Pieces prepared ahead of the one being sent.
const AHEAD: usize = 2;

/// How the pieces of a download are made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Not decided yet: the first piece looks at the file's length.
    Undecided,
    /// Memory maps of [`WINDOW`] bytes.
    Map,
    /// Reads into buffers of [`PIECE`] bytes.
    Read,
}

/// A piece prepared on a blocking thread: its bytes, and the way the next ones are
/// made (a map that fails turns the rest of the download into reads).
type Prepared = (io::Result<Bytes>, Way);

/// What a download still has to prepare, and the pieces being prepared.
struct Download {
    file: Arc<File>,
    /// The next byte not yet handed to a preparation.
    at: u64,
    end: u64,
    way: Way,
    /// The pieces on their way: where each starts, its size, and its preparation.
    preparing: VecDeque<(u64, u64, JoinHandle<Prepared>)>,
    /// Set after an error or the last piece: nothing more is handed out.
    done: bool,
}

/// The bytes `start..start + len` of `file`.
pub fn stream(file: File, start: u64, len: u64) -> ByteStream {
    let download = Download {
        file: Arc::new(file),
        at: start,
        end: start + len,
        way: Way::Undecided,
        preparing: VecDeque::new(),
        done: len == 0,
    };
    futures::stream::unfold(download, |mut download| async move {
        let piece = download.next_piece().await?;
        Some((piece, download))
    })
    .boxed()
}

impl Download {
    /// The next piece, with up to [`AHEAD`] more being prepared meanwhile.
    async fn next_piece(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        self.prepare_ahead();
        let (start, size, handle) = self.preparing.pop_front()?;
        let (piece, way) = match handle.await {
            Ok(prepared) => prepared,
            Err(e) => (Err(io::Error::other(e)), Way::Read),
        };
        let len = match &piece {
            Ok(bytes) => bytes.len() as u64,
            Err(_) => {
                self.done = true;
                self.preparing.clear();
                return Some(piece);
            }
        };
        if len < size {
            // Read instead of mapped (a map that failed, or a file found too short to
            // map): the pieces started after it assumed maps; go on from where it ended.
            self.preparing.clear();
            self.at = start + len;
        }
        self.way = way;
        if self.preparing.is_empty() && self.at >= self.end {
            self.done = true;
        }
        Some(piece)
    }

    /// Starts preparing pieces until [`AHEAD`] + 1 are on their way or none are left.
    /// The first one decides, on its blocking thread, whether maps are used.
    fn prepare_ahead(&mut self) {
        while self.preparing.len() <= AHEAD && self.at < self.end {
            if self.way == Way::Undecided && !self.preparing.is_empty() {
                // The first piece has not decided the way yet; the rest wait for it.
                return;
            }
            let (at, end, way) = (self.at, self.end, self.way);
            // An undecided first piece asks for a window; read instead, it comes back
            // shorter and the next pieces go on from where it ended.
            let size = match way {
                Way::Map | Way::Undecided => WINDOW.min(end - at),
                Way::Read => (PIECE as u64).min(end - at),
            };
            let file = self.file.clone();
            let handle = tokio::task::spawn_blocking(move || prepare(&file, at, size, end, way));
            self.preparing.push_back((at, size, handle));
            self.at = at + size;
        }
    }
}

/// The piece `at..at + size` of a download ending at `end`, made the way `way` says
/// (deciding it first when undecided), with the way the next pieces are made.
fn prepare(file: &File, at: u64, size: u64, end: u64, way: Way) -> Prepared {
    let way = match way {
        // Touching a mapped page past the end of the file kills the process (SIGBUS): a
        // file found shorter than the range (damaged outside wharf) is read instead,
        // which reports it.
        Way::Undecided if end - at >= MAP_AT_LEAST => {
            if file.metadata().is_ok_and(|m| m.len() >= end) {
                Way::Map
            } else {
                Way::Read
            }
        }
        Way::Undecided => Way::Read,
        decided => decided,
    };
    if way == Way::Map {
        if let Ok(map) = map(file, at, size) {
            return (Ok(Bytes::from_owner(map)), Way::Map);
        }
    }
    // Read: a piece of at most PIECE bytes (a failed map's window is read from its start).
    let size = size.min(PIECE as u64);
    (read_piece(file, at, size, end), Way::Read)
}

/// `size` bytes of `file` from `at`, mapped read-only with their pages in place.
fn map(file: &File, at: u64, size: u64) -> io::Result<memmap2::Mmap> {
    let len = usize::try_from(size).map_err(io::Error::other)?;
    // SAFETY: the file is a committed blob, which nobody writes or truncates (see the
    // module's doc), and it was found long enough: the mapped bytes stay valid and
    // unchanged while the map lives.
    unsafe { memmap2::MmapOptions::new().offset(at).len(len).populate().map(file) }
}

/// `size` bytes of `file` from `at`, read into a buffer; a file that ends before them
/// is an error saying how many bytes of the download (ending at `end`) are missing.
fn read_piece(file: &File, at: u64, size: u64, end: u64) -> io::Result<Bytes> {
    let mut buf = vec![0u8; size as usize];
    let mut filled = 0usize;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], at + filled as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the blob file ended {} bytes early", end - at - filled as u64),
                ))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::io::Write;
    use std::time::Duration;

    fn blob_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&bytes).unwrap();
        file.flush().unwrap();
        (file, bytes)
    }

    async fn read_all(file: &tempfile::NamedTempFile, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let pieces: Vec<Bytes> = stream(file.reopen().unwrap(), start, len).try_collect().await?;
        Ok(pieces.concat())
    }

    /// Every range comes back byte for byte: empty, small (buffers), large (maps), and
    /// ranges that start or end inside a window.
    #[tokio::test]
    async fn ranges_come_back_byte_for_byte_read_or_mapped() {
        let (file, bytes) = blob_file(13 * 1024 * 1024 + 777);
        let total = bytes.len() as u64;
        for (start, len) in [
            (0, 0),
            (0, 10),
            (5, 300_000),
            (0, total),
            (1, total - 1),
            (3 * 1024 * 1024 + 5, 6 * 1024 * 1024 + 11),
            (total - 1_048_577, 1_048_577),
        ] {
            let got = read_all(&file, start, len).await.unwrap();
            assert_eq!(got.len() as u64, len, "range {start}+{len}");
            assert!(
                got == bytes[start as usize..(start + len) as usize],
                "range {start}+{len}"
            );
        }
    }

    /// A file shorter than the range asked for (damaged outside wharf) ends the stream
    /// with an error after the bytes it has, instead of a short success or a SIGBUS.
    #[tokio::test]
    async fn a_file_shorter_than_the_range_is_an_error() {
        let (file, _) = blob_file(3 * 1024 * 1024);
        let err = read_all(&file, 0, 5 * 1024 * 1024).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("ended"), "{err}");
    }

    /// Downloads whose clients stop reading hold no blocking thread: with two blocking
    /// threads in all and four downloads started and left unread, other blocking work
    /// still runs at once (a producer blocked on its queue per download took both).
    #[test]
    fn downloads_that_are_not_read_hold_no_blocking_thread() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (file, bytes) = blob_file(48 * 1024 * 1024);
        let work = async {
            let mut held = Vec::new();
            for _ in 0..4 {
                let mut download = stream(file.reopen().unwrap(), 0, bytes.len() as u64);
                let first = download.next().await.unwrap().unwrap();
                assert_eq!(first[..], bytes[..first.len()]);
                held.push(download);
            }
            // Let every preparation that was started finish.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(tokio::task::spawn_blocking(|| 42).await.unwrap(), 42);
            // A held download still finishes when read.
            let rest: Vec<Bytes> = held[0].by_ref().try_collect().await.unwrap();
            assert!(rest.concat()[..] == bytes[WINDOW as usize..]);
        };
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), work)
                .await
                .expect("downloads nobody reads took the blocking threads: other work waited")
        });
    }
}
