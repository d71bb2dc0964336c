//! Read-ahead for large streamed reads: a task takes the bytes of one GET off the S3
//! connection as fast as the server sends them and hands them on as they came, at most
//! [`AHEAD`] bytes ahead of the client, so that the two connections (bucket → wharf,
//! wharf → client) run at once instead of in lockstep.
//!
//! The pieces are handed on uncopied, in the sizes the HTTP client read them (hyper
//! reads up to about 400 KiB at a time); hyper's response writer sends each with one
//! `writev` and gathers those that wait. Copying them into larger pieces cost a pass
//! over every byte (wharf's CPU per GiB served up by about a tenth, BENCHMARKS.md) and
//! bought no throughput.
//!
//! Memory stays bounded: the pieces waiting for the client hold at most [`AHEAD`] bytes
//! (a larger piece is cut, uncopied, to fit), whatever the download's size. Beyond its
//! first waiting piece, a download's read-ahead is taken from a budget all downloads of
//! the store share ([`BUDGET`]): when it is spent, a download hands on one piece at a
//! time instead, as if it read nothing ahead. So clients that stop reading cost one
//! piece each (what one socket read returned), not 4 MiB each: 4,096 connections
//! left unread would otherwise hold 16 GiB. When the client goes away the receiving
//! half is dropped, the task sees the channel closed (also while it waits for room or
//! for the bucket) and stops, dropping the GET.

use crate::storage::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use std::io;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// The bytes read ahead of the client at most.
pub(super) const AHEAD: usize = 4 << 20;

/// The bytes all downloads of a store may read ahead together, beyond one piece each.
pub(super) const BUDGET: usize = 256 << 20;

/// The room a waiting piece takes until it is taken: in its download's allowance, and
/// in the shared budget unless it is the only piece waiting.
type Room = (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>);

/// A piece on its way to the consumer, with the room it takes up until it is taken.
type Piece = (io::Result<Bytes>, Option<Room>);

/// `source` read ahead on its own task, its pieces handed on uncopied, at most `ahead`
/// bytes of them waiting for the consumer, all but one piece of them taken from
/// `budget` (shared with other downloads); with the budget spent, one piece at a time.
pub(super) fn read_ahead(mut source: ByteStream, ahead: usize, budget: Arc<Semaphore>) -> ByteStream {
    let ahead = ahead.clamp(1, u32::MAX as usize);
    let room = Arc::new(Semaphore::new(ahead));
    let (tx, rx) = mpsc::unbounded_channel::<Piece>();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = source.next() => next,
                () = tx.closed() => return,
            };
            let mut bytes = match next {
                Some(Ok(bytes)) => bytes,
                Some(Err(e)) => {
                    let _ = tx.send((Err(e), None));
                    return;
                }
                None => return,
            };
            while !bytes.is_empty() {
                let piece = bytes.split_to(bytes.len().min(ahead));
                let taken = tokio::select! {
                    taken = take_room(&room, ahead, &budget, piece.len()) => taken,
                    () = tx.closed() => return,
                };
                let Some(taken) = taken else { return };
                if tx.send((Ok(piece), Some(taken))).is_err() {
                    return;
                }
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        // The piece's room is given back as soon as it is taken.
        rx.recv().await.map(|(item, _room)| (item, rx))
    })
    .boxed()
}

/// Room for a piece of `len` bytes: in the download's allowance (`room`, of `ahead`
/// bytes), and in the shared `budget` when other pieces of the download still wait. With
/// the budget spent, waits until the consumer has taken every waiting piece, so that
/// this one waits alone. `None` once the allowance is closed (never, in practice).
async fn take_room(room: &Arc<Semaphore>, ahead: usize, budget: &Arc<Semaphore>, len: usize) -> Option<Room> {
    let own = room.clone().acquire_many_owned(len as u32).await.ok()?;
    let others_waiting = room.available_permits() + len < ahead;
    if !others_waiting {
        return Some((own, None));
    }
    if let Ok(shared) = budget.clone().try_acquire_many_owned(len as u32) {
        return Some((own, Some(shared)));
    }
    // Wait until everything else of this download is taken (its room given back); the
    // task is the allowance's only taker, so it is then this piece's alone.
    let rest = room.clone().acquire_many_owned((ahead - len) as u32).await.ok()?;
    drop(rest);
    Some((own, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    fn unlimited() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(Semaphore::MAX_PERMITS))
    }

    /// A source of `count` pieces of 10 bytes that counts the pieces read from it.
    fn counted(count: usize) -> (ByteStream, Arc<AtomicUsize>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = taken.clone();
        let source = futures::stream::iter(0..count)
            .map(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::from_static(&[7u8; 10]))
            })
            .boxed();
        (source, taken)
    }

    /// With the shared budget spent, a download reads no further ahead than one waiting
    /// piece, and still delivers every byte.
    #[tokio::test]
    async fn with_the_budget_spent_a_download_holds_one_piece_at_a_time() {
        let (source, taken) = counted(100);
        let mut out = read_ahead(source, 30, Arc::new(Semaphore::new(0)));
        out.next().await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // One handed out, one waiting, one read and waiting for the queue to empty.
        let read = taken.load(Ordering::SeqCst);
        assert!(read <= 3, "read {read} pieces ahead with no budget");
        let rest: Vec<Bytes> = out.try_collect().await.unwrap();
        assert_eq!(rest.len(), 99);
    }

    /// Read-ahead beyond the first waiting piece comes out of the shared budget and goes
    /// back to it when the pieces are taken or the download is dropped.
    #[tokio::test]
    async fn read_ahead_beyond_one_piece_is_taken_from_the_shared_budget_and_given_back() {
        let budget = Arc::new(Semaphore::new(20));
        let (source, taken) = counted(100);
        let mut out = read_ahead(source, 1000, budget.clone());
        out.next().await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(budget.available_permits(), 0, "two pieces waiting on the budget");
        // One handed out, one waiting free, two on the budget, one waiting for room.
        let read = taken.load(Ordering::SeqCst);
        assert!(read <= 6, "read {read}");
        drop(out);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(budget.available_permits(), 20, "the budget given back");
    }

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

    /// The pieces come through in order and uncopied (the very same memory); one
    /// larger than the allowance is cut to fit, uncopied too.
    #[tokio::test]
    async fn pieces_come_through_in_order_uncopied_and_cut_to_the_allowance() {
        let input = pieces(&[3, 4, 25, 1]);
        let all: Vec<u8> = input.concat();
        let source = futures::stream::iter(input.clone().into_iter().map(Ok)).boxed();
        let out: Vec<Bytes> = read_ahead(source, 10, unlimited()).try_collect().await.unwrap();
        assert_eq!(out.iter().map(Bytes::len).collect::<Vec<_>>(), [3, 4, 10, 10, 5, 1]);
        assert_eq!(out.concat(), all);
        assert_eq!(out[0].as_ptr(), input[0].as_ptr(), "handed on, not copied");
        assert_eq!(out[2].as_ptr(), input[2].as_ptr());
        assert_eq!(out[3].as_ptr(), input[2][10..].as_ptr());
    }

    /// An error ends the stream after the bytes before it.
    #[tokio::test]
    async fn an_error_follows_the_bytes_read_before_it() {
        let source = futures::stream::iter([Ok(Bytes::from_static(b"abc")), Err(io::Error::other("cut"))]).boxed();
        let out: Vec<io::Result<Bytes>> = read_ahead(source, 10, unlimited()).collect().await;
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap().as_ref(), b"abc");
        assert!(out[1].is_err());
    }

    /// The task reads no further than the bytes it may hold, and stops when the
    /// consumer is gone.
    #[tokio::test]
    async fn it_reads_at_most_the_bound_ahead_and_stops_when_dropped() {
        let (source, taken) = counted(1000);
        let mut out = read_ahead(source, 30, unlimited());
        out.next().await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // One handed out, three (30 bytes) waiting, one waiting for room.
        let read = taken.load(Ordering::SeqCst);
        assert!(read <= 5, "read {read}");
        drop(out);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = taken.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(taken.load(Ordering::SeqCst), after, "nothing read once dropped");
        assert!(after <= 6);
    }

    /// Sets its flag when dropped: the GET's stream, to see it closed.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A client that goes away while the bucket sends nothing still ends the read: the
    /// GET is dropped at once, not when (if ever) its next bytes arrive.
    #[tokio::test]
    async fn a_consumer_gone_while_the_source_stalls_drops_the_source() {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let source = futures::stream::once(async { Ok(Bytes::from_static(b"first")) })
            .chain(futures::stream::pending())
            .map(move |item| {
                let _ = &guard;
                item
            })
            .boxed();
        let mut out = read_ahead(source, 1 << 20, unlimited());
        assert_eq!(out.next().await.unwrap().unwrap().as_ref(), b"first");
        drop(out);
        for _ in 0..50 {
            if dropped.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the stalled source was not dropped after its consumer went away");
    }
}
