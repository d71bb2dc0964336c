//! The one body type the proxy streams, in both directions: the peer's body passed on
//! frame by frame (never collected), with an idle limit so that no transfer waits forever,
//! and the body-shaping faults (cut after N bytes, flip a bit) applied on the way.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use tokio::time::Sleep;

use super::flush::FlushSignal;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Any body the proxy reads from or writes to a peer.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// The longest a body may go without a frame before the proxy gives up on it.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// When a body last moved; shared with whoever waits on the other side of it.
#[derive(Clone)]
pub(crate) struct Progress(Arc<Mutex<Instant>>);

impl Progress {
    pub(crate) fn new() -> Progress {
        Progress(Arc::new(Mutex::new(Instant::now())))
    }

    fn touch(&self) {
        *self.0.lock().unwrap() = Instant::now();
    }

    /// How long since the body last moved.
    pub(crate) fn idle_for(&self) -> Duration {
        self.0.lock().unwrap().elapsed()
    }
}

/// What happens to the bytes on their way through.
enum Shape {
    /// Passed unchanged.
    Whole,
    /// `remaining` more bytes are passed; after them the body fails, but only once the
    /// connection reported a flush after the last of them (see [`super::flush`]), so the
    /// peer receives exactly the bytes promised. `flushes_at_cut` is the flush count when
    /// the budget ran out.
    Cut {
        remaining: u64,
        signal: FlushSignal,
        flushes_at_cut: Option<u64>,
    },
    /// The lowest bit of the byte at offset `at` is flipped; `seen` bytes have passed.
    Corrupt { at: u64, seen: u64 },
    /// `remaining` more bytes are passed; then nothing, ever (no error, no end).
    Stall { remaining: u64 },
}

pub(crate) struct Guarded {
    inner: ProxyBody,
    shape: Shape,
    idle: Pin<Box<Sleep>>,
    progress: Option<Progress>,
    /// Counts the data bytes passed on.
    counter: Option<Arc<AtomicU64>>,
}

impl Guarded {
    pub(crate) fn whole(inner: ProxyBody) -> Guarded {
        Guarded {
            inner,
            shape: Shape::Whole,
            idle: Box::pin(tokio::time::sleep(IDLE_LIMIT)),
            progress: None,
            counter: None,
        }
    }

    /// Passes the first `bytes` bytes, then stalls: no more frames, no error, no end.
    pub(crate) fn stall(inner: ProxyBody, bytes: u64) -> Guarded {
        Guarded {
            shape: Shape::Stall { remaining: bytes },
            ..Guarded::whole(inner)
        }
    }

    /// Adds the length of every data frame passed on to `counter`.
    pub(crate) fn counting(mut self, counter: Arc<AtomicU64>) -> Guarded {
        self.counter = Some(counter);
        self
    }

    /// Passes the first `bytes` bytes, then fails once they are flushed to the socket
    /// that `signal` watches. A body no longer than `bytes` passes whole.
    pub(crate) fn cut(inner: ProxyBody, bytes: u64, signal: FlushSignal) -> Guarded {
        Guarded {
            shape: Shape::Cut {
                remaining: bytes,
                signal,
                flushes_at_cut: None,
            },
            ..Guarded::whole(inner)
        }
    }

    /// Flips the lowest bit of the byte at offset `at` (nothing if the body is shorter).
    pub(crate) fn corrupt(inner: ProxyBody, at: u64) -> Guarded {
        Guarded {
            shape: Shape::Corrupt { at, seen: 0 },
            ..Guarded::whole(inner)
        }
    }

    /// Records every frame (and the end) in `progress`.
    pub(crate) fn with_progress(mut self, progress: Progress) -> Guarded {
        self.progress = Some(progress);
        self
    }

    pub(crate) fn boxed(self) -> ProxyBody {
        BoxBody::new(self)
    }

    fn moved(&mut self) {
        self.idle.as_mut().reset(tokio::time::Instant::now() + IDLE_LIMIT);
        if let Some(progress) = &self.progress {
            progress.touch();
        }
    }

    /// The budget of a cut is spent: wait for the flush that puts the last byte on the
    /// wire, then fail. Bounded by the idle limit in case the peer stops reading.
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Shape::Cut {
            signal, flushes_at_cut, ..
        } = &mut self.shape
        else {
            unreachable!("poll_cut is called for a cut body only")
        };
        let flushes = signal.flushes();
        let at_cut = match *flushes_at_cut {
            Some(at_cut) => at_cut,
            None => {
                *flushes_at_cut = Some(flushes);
                self.idle.as_mut().reset(tokio::time::Instant::now() + IDLE_LIMIT);
                flushes
            }
        };
        signal.register(cx);
        if signal.flushes() > at_cut || self.idle.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(cut_error())));
        }
        Poll::Pending
    }
}

impl Shape {
    fn apply(&mut self, frame: Frame<Bytes>) -> Frame<Bytes> {
        let Ok(mut data) = frame.into_data() else {
            unreachable!("apply is called for data frames only")
        };
        match self {
            Shape::Whole => {}
            Shape::Cut { remaining, .. } | Shape::Stall { remaining } => {
                data.truncate(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= data.len() as u64;
            }
            Shape::Corrupt { at, seen } => {
                let end = *seen + data.len() as u64;
                if (*seen..end).contains(at) {
                    let mut bytes = BytesMut::from(&data[..]);
                    bytes[(*at - *seen) as usize] ^= 0x01;
                    data = bytes.freeze();
                }
                *seen = end;
            }
        }
        Frame::data(data)
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Shape::Stall { remaining: 0 } = this.shape {
            if !this.inner.is_end_stream() {
                // Silence: nothing will wake this body; dropping the connection ends it.
                return Poll::Pending;
            }
        }
        if let Shape::Cut { remaining: 0, .. } = this.shape {
            if !this.inner.is_end_stream() {
                return this.poll_cut(cx);
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.moved();
                if frame.is_data() {
                    let frame = this.shape.apply(frame);
                    if let (Some(counter), Some(data)) = (&this.counter, frame.data_ref()) {
                        counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    Poll::Ready(Some(Ok(frame)))
                } else {
                    Poll::Ready(Some(Ok(frame)))
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                this.moved();
                Poll::Ready(None)
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(idle_error()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// The peer's own hint: a cut body keeps promising the full length, which is the
    /// point (the receiver must notice the body is incomplete).
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn cut_error() -> BoxError {
    Box::new(std::io::Error::other(
        "wharf-testkit proxy: connection cut by a fault rule",
    ))
}

fn idle_error() -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("wharf-testkit proxy: body idle for {} s", IDLE_LIMIT.as_secs()),
    ))
}
