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
