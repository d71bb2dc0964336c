//! [`Background`]: a server of the test kit on a free loopback port, run on a thread of
//! its own with its own Tokio runtime, so it works the same from a plain `#[test]` and
//! from `#[tokio::test]` (whose runtime may have one thread only), and stopping it never
//! depends on the test's runtime. The balancer, the fault proxy and the TLS proxy are
//! each one of these with their own way of serving a connection.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The runtime a [`Background`] server runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Runtime {
    CurrentThread,
    MultiThread { workers: usize },
}

/// A loopback port bound for a server `role` names, before the server starts: its
/// address is known (and connections queue) from here on.
pub(crate) struct Bound {
    role: &'static str,
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// Binds a free port on 127.0.0.1 (`role`, such as "proxy", names the thread and the
    /// panics).
    pub(crate) fn loopback(role: &'static str) -> Bound {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("a loopback port is free for the {role}: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("the {role}'s listener is made non-blocking: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the {role}'s listener has an address: {e}"));
        Bound { role, listener, addr }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving: each accepted connection (and its peer's address) is handed to
    /// `connection` in a task of its own, until the [`Background`] is dropped.
    pub(crate) fn serve<F, C>(self, runtime: Runtime, connection: F) -> Background
    where
        F: Fn(TcpStream, SocketAddr) -> C + Send + 'static,
        C: Future<Output = ()> + Send + 'static,
    {
        let Bound { role, listener, addr } = self;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("wharf-testkit-{role}-{}", addr.port()))
            .spawn(move || {
                let runtime = match runtime {
                    Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
                    Runtime::MultiThread { workers } => {
                        let mut builder = tokio::runtime::Builder::new_multi_thread();
                        builder.worker_threads(workers);
                        builder
                    }
                }
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("the {role}'s runtime starts: {e}"));
                runtime.block_on(accept(role, listener, stopped, connection));
                // Drops every connection task, which closes its sockets.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .unwrap_or_else(|e| panic!("the {role}'s thread starts: {e}"));
        Background {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// Accepts connections until `stopped` fires.
async fn accept<F, C>(role: &str, listener: std::net::TcpListener, mut stopped: oneshot::Receiver<()>, connection: F)
where
    F: Fn(TcpStream, SocketAddr) -> C,
    C: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::from_std(listener)
        .unwrap_or_else(|e| panic!("the {role}'s listener joins the runtime: {e}"));
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(connection(stream, peer));
                }
                // Out of file descriptors, say: wait rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

/// A running server; stopped (every connection closed) on drop.
pub(crate) struct Background {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// `http://127.0.0.1:PORT`
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, as image references name the registry.
    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
