//! A request body on its way to the blob store: hashed, counted and bounded in one pass.

use crate::storage::ByteStream;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use wharf_oci::DigestHasher;

/// Why the body was cut short, told apart from storage failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// More bytes than announced (Content-Length or Content-Range).
    TooLong { expected: u64 },
    /// Fewer bytes than announced: the client stopped sending.
    TooShort { expected: u64, got: u64 },
    /// Above the configured chunk limit.
    OverLimit { limit: u64 },
    /// The connection failed while reading the body.
    Interrupted(String),
}

/// Wraps a body: every byte that passes is fed to the hasher and counted; a body longer
/// or shorter than `expected`, or longer than `limit`, ends in an error instead.
pub(crate) struct HashingBody {
    inner: ByteStream,
    pub hasher: DigestHasher,
    pub count: u64,
    expected: Option<u64>,
    limit: Option<u64>,
    pub fault: Option<BodyFault>,
    done: bool,
}

impl HashingBody {
    pub fn new(inner: ByteStream, hasher: DigestHasher, expected: Option<u64>, limit: Option<u64>) -> HashingBody {
        HashingBody {
            inner,
            hasher,
            count: 0,
            expected,
            limit,
            fault: None,
            done: false,
        }
    }

    fn fail(&mut self, fault: BodyFault) -> Poll<Option<io::Result<Bytes>>> {
        let message = format!("{fault:?}");
        self.fault = Some(fault);
        self.done = true;
        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, message))))
    }
}

impl Stream for HashingBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => self.fail(BodyFault::Interrupted(e.to_string())),
            Poll::Ready(Some(Ok(chunk))) => {
                let count = self.count + chunk.len() as u64;
                if let Some(expected) = self.expected.filter(|e| count > *e) {
                    return self.fail(BodyFault::TooLong { expected });
                }
                if let Some(limit) = self.limit.filter(|l| count > *l) {
                    return self.fail(BodyFault::OverLimit { limit });
                }
                self.count = count;
                self.hasher.update(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => match self.expected {
                Some(expected) if self.count < expected => {
                    let got = self.count;
                    self.fail(BodyFault::TooShort { expected, got })
                }
                _ => {
                    self.done = true;
                    Poll::Ready(None)
                }
            },
        }
    }
}
