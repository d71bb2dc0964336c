//! How hyper serves a connection: HTTP/1.1, and HTTP/2 (by ALPN over TLS, or with prior
//! knowledge) with flow-control windows sized for blob uploads.
//!
//! An HTTP/2 client may send only as much of a request body as the server's window
//! allows, and the window reopens only as the handler reads the body. hyper's server
//! default is 1 MiB per stream and per connection: no more than what the upload path
//! gathers before it writes (a 1 MiB batch to a file, a part of 8 MiB or more to S3), so
//! while a batch was being written the client stood still, and a 1 GiB push over TLS
//! (where clients pick HTTP/2) ran at a quarter of the HTTP/1.1 speed. A window above
//! one S3 part lets the client send the next batch while the last one is stored.
//!
//! The windows bound what one connection can have sent that the registry has not read
//! yet: a handler reads its body as fast as storage takes it (or gives up after the body
//! timeout), so this is memory for bodies in flight, as a TCP receive buffer is for
//! HTTP/1.1.

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;

/// The HTTP/2 receive window of one request body (a stream).
pub const STREAM_WINDOW: u32 = 16 << 20;

/// The HTTP/2 receive window of a whole connection: two uploads at full speed at once.
pub const CONNECTION_WINDOW: u32 = 2 * STREAM_WINDOW;

/// The connection builder every accepted connection is served with.
pub fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    builder
}
