//! Read-ahead for large streamed reads: a task takes the bytes of one GET off the S3
//! connection as fast as the server sends them and hands them on in pieces of
//! [`PIECE`] bytes, at most [`PIECES`] ahead of the client, so that the two
//! connections (bucket → wharf, wharf → client) run at once instead of in lockstep,
//! and the response is written in a few large frames rather than in the HTTP client's
//! small reads.
//!
//! Memory stays bounded: a download holds at most `(PIECES + 1) × PIECE` bytes (5 MiB)
//! whatever its size. When the client goes away the receiving half is dropped, the
//! task's next hand-over fails and it stops, dropping the GET.

use crate::storage::ByteStream;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::io;

/// The size of the pieces handed to the response (the last one may be shorter).
pub(super) const PIECE: usize = 1 << 20;

/// Pieces read ahead of the client at most.
pub(super) const PIECES: usize = 4;

/// `source` read ahead on its own task, in pieces of `piece` bytes, at most `pieces`
/// of them waiting for the consumer.
pub(super) fn read_ahead(mut source: ByteStream, piece: usize, pieces: usize) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(pieces.max(1));
    tokio::spawn(async move {
        let mut filling = BytesMut::new();
        while let Some(next) = source.next().await {
            match next {
                Ok(bytes) => {
                    if filling.is_empty() && bytes.len() >= piece {
                        // Already large: handed on as it is, uncopied.
                        if tx.send(Ok(bytes)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    filling.extend_from_slice(&bytes);
                    if filling.len() >= piece && tx.send(Ok(filling.split().freeze())).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if !filling.is_empty() && tx.send(Ok(filling.split().freeze())).await.is_err() {
                        return;
                    }
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        if !filling.is_empty() {
            let _ = tx.send(Ok(filling.freeze())).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn pieces(sizes: &[usize]) -> Vec<Bytes> {
        let mut at = 0u8;
        sizes
            .iter()
            .map(|&n| {
                let piece: Vec<u8> = (0..n).map(|i| at.wrapping_add(i as u8)).collect();
                at = at.wrapping_add(n as u8);
                Bytes::from(piece)
            })
            .collect()
    }

    /// Small reads are joined into pieces, large ones passed on, the bytes in order.
    #[tokio::test]
    async fn bytes_come_through_in_order_in_pieces_of_the_size() {
        let input = pieces(&[3, 4, 5, 20, 1, 1, 2]);
        let all: Vec<u8> = input.concat();
        let source = futures::stream::iter(input.into_iter().map(Ok)).boxed();
        let out: Vec<Bytes> = read_ahead(source, 10, 2).try_collect().await.unwrap();
        assert_eq!(out.iter().map(Bytes::len).collect::<Vec<_>>(), [12, 20, 4]);
        assert_eq!(out.concat(), all);
    }

    /// An error ends the stream after the bytes before it.
    #[tokio::test]
    async fn an_error_follows_the_bytes_read_before_it() {
        let source = futures::stream::iter([Ok(Bytes::from_static(b"abc")), Err(io::Error::other("cut"))]).boxed();
        let out: Vec<io::Result<Bytes>> = read_ahead(source, 10, 2).collect().await;
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap().as_ref(), b"abc");
        assert!(out[1].is_err());
    }

    /// The task reads no further than the pieces it may hold, and stops when the
    /// consumer is gone.
    #[tokio::test]
    async fn it_reads_at_most_the_bound_ahead_and_stops_when_dropped() {
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = taken.clone();
        let source = futures::stream::iter(0..1000)
            .map(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::from_static(&[0u8; 10]))
            })
            .boxed();
        let mut out = read_ahead(source, 10, 3);
        out.next().await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // One handed out, three waiting, one blocked in the hand-over.
        assert!(
            taken.load(Ordering::SeqCst) <= 5,
            "read {}",
            taken.load(Ordering::SeqCst)
        );
        drop(out);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let after = taken.load(Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(taken.load(Ordering::SeqCst), after, "nothing read once dropped");
        assert!(after <= 6);
    }
}
