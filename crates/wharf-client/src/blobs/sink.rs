//! Where a download goes. A sink can start over, so that content that fails its digest
//! check is fetched again instead of being left in place as if it were complete.

use futures::future::BoxFuture;
use tokio::io::{AsyncSeekExt, AsyncWrite};

/// A writer a download can be restarted into.
pub trait BlobSink: AsyncWrite + Unpin + Send {
    /// Throws away everything written so far.
    fn restart(&mut self) -> BoxFuture<'_, std::io::Result<()>>;
}

impl BlobSink for tokio::fs::File {
    fn restart(&mut self) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async move {
            self.set_len(0).await?;
            self.rewind().await?;
            Ok(())
        })
    }
}

impl BlobSink for Vec<u8> {
    fn restart(&mut self) -> BoxFuture<'_, std::io::Result<()>> {
        self.clear();
        Box::pin(async { Ok(()) })
    }
}

/// Any writer as a sink that cannot start over: a download into it that fails
/// verification is an error, since bytes already handed on cannot be taken back.
pub(crate) struct OneShot<'a, W>(pub(crate) &'a mut W);

impl<W: AsyncWrite + Unpin + Send> AsyncWrite for OneShot<'_, W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<W: AsyncWrite + Unpin + Send> BlobSink for OneShot<'_, W> {
    fn restart(&mut self) -> BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async { Err(std::io::Error::other("the writer cannot start over")) })
    }
}
