//! A socket wrapper that tells a body when hyper has handed everything it buffered to
//! the kernel.
//!
//! A fault that cuts a connection after exactly N bytes cannot simply end its body with
//! an error: hyper queues body chunks and writes them on its next flush, and an error
//! from the body makes it drop the connection with the last chunk still queued. So a
//! cutting body waits until this socket reports a completed flush after its last chunk,
//! and only then fails. Hyper calls the socket's `poll_flush` only once its own write
//! buffer is empty, so a completed flush means every byte queued before it was written.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Shared between a connection's socket and the bodies written to it.
#[derive(Clone, Default)]
pub(crate) struct FlushSignal(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// Completed flushes so far.
    flushes: AtomicU64,
    waker: AtomicWaker,
}

impl FlushSignal {
    /// Completed flushes so far; a later, larger value means a flush happened since.
    pub(crate) fn flushes(&self) -> u64 {
        self.0.flushes.load(Ordering::Acquire)
    }

    /// Wakes the task of `cx` on the next completed flush.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.0.waker.register(cx.waker());
    }

    fn flushed(&self) {
        self.0.flushes.fetch_add(1, Ordering::AcqRel);
        self.0.waker.wake();
    }
}

/// A stream whose completed flushes are counted in a [`FlushSignal`].
pub(crate) struct FlushIo<S> {
    inner: S,
    signal: FlushSignal,
}

impl<S> FlushIo<S> {
    pub(crate) fn new(inner: S) -> (FlushIo<S>, FlushSignal) {
        let signal = FlushSignal::default();
        (
            FlushIo {
                inner,
                signal: signal.clone(),
            },
            signal,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FlushIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FlushIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            self.signal.flushed();
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
