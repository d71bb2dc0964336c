//! Streaming a blob file to a client.
//!
//! One blocking task reads the file in large pieces straight into the buffers that are
//! sent (no intermediate copy) and queues them; the queue holds [`AHEAD`] pieces, so the
//! disk read of the next piece overlaps the sending of this one while memory per
//! download stays bounded. A client that goes away closes the queue and ends the task.

use crate::storage::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use std::fs::File;
use std::io::{self, Read};
use tokio::sync::mpsc;

/// Bytes per piece read and sent.
const PIECE: usize = 512 * 1024;
/// Pieces read ahead of the one being sent.
const AHEAD: usize = 2;

/// The `len` bytes of `file` from its current position.
pub fn stream(file: File, len: u64) -> ByteStream {
    let (pieces, queue) = mpsc::channel::<io::Result<Bytes>>(AHEAD);
    tokio::task::spawn_blocking(move || read_into(file, len, pieces));
    futures::stream::unfold(queue, |mut queue| async move {
        let piece = queue.recv().await?;
        Some((piece, queue))
    })
    .boxed()
}

fn read_into(mut file: File, len: u64, pieces: mpsc::Sender<io::Result<Bytes>>) {
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
