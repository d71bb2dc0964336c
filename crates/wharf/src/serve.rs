//! `wharf serve`: files + SQLite under the data directory, an HTTP listener, the
//! registry's background work (abandoned uploads), and a graceful stop on SIGTERM or SIGINT.

use crate::config::ServeConfig;
use std::sync::Arc;
use tokio::net::TcpListener;
use wharf_registry::meta::SqliteMetaStore;
use wharf_registry::storage::FsBlobStore;
use wharf_registry::maintenance::CollectGarbage;
use wharf_registry::{Maintenance, Registry};

/// Lines queued for the log writer thread. The queue is allocated whole at start, so it
/// is kept small (the default of 128,000 lines costs megabytes of idle memory); when it
/// is full, lines are dropped rather than slowing requests down.
const LOG_QUEUE_LINES: usize = 4096;

/// Logs to stderr through a writer thread: a request formats its line and hands it over
/// instead of waiting for the write, which at tens of thousands of requests a second is
/// a quarter of the server's work. Keep the guard until exit: dropping it flushes what
/// is still queued.
pub fn init_logging(filter: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer)
        .init();
    guard
}

pub async fn run(config: ServeConfig) -> Result<(), String> {
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
    let blobs = FsBlobStore::open(data_dir, config.durable)
        .await
        .map_err(|e| format!("cannot open blob storage in {}: {e}", data_dir.display()))?;
    let meta = SqliteMetaStore::open(data_dir.join("metadata.sqlite"), config.durable)
        .await
        .map_err(|e| format!("cannot open metadata database in {}: {e}", data_dir.display()))?;
    let registry = Arc::new(Registry::new(Arc::new(blobs), Arc::new(meta), config.registry.clone()));
    // Bytes an upload stored but could not record before the last stop: its session
    // resumes from them.
    match registry.account_interrupted_uploads().await {
        Ok(0) => {}
        Ok(n) => tracing::info!("{n} upload(s) cut off by the last stop resume from the bytes they stored"),
        Err(e) => tracing::warn!("could not account interrupted uploads: {}", e.message),
    }
    // Expiry of idle uploads, removal of upload bytes no session owns and garbage
    // collection, until the end.
    let mut maintenance = Maintenance::new(registry.clone());
    if config.gc.enabled {
        maintenance = maintenance.with_job(CollectGarbage::every(config.gc.interval, config.gc.options.clone()));
    }
    let _maintenance = maintenance.spawn();

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        "wharf listening on http://{address}, data in {}, {} mode",
        data_dir.display(),
        if config.durable { "durable" } else { "relaxed" }
    );
    let app = match crate::auth::access_control(&config.auth, config.listen, data_dir)? {
        Some(access) => {
            tracing::info!("access control on: {:?} mode", config.auth.mode);
            wharf_registry::router_with_access(registry, access)
        }
        None => {
            if !config.listen.ip().is_loopback() {
                tracing::warn!(
                    "no access control and listening on {}: anyone who can reach it may push",
                    config.listen
                );
            }
            wharf_registry::router(registry)
        }
    };
    // Connect info gives the login throttle each client's address.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        signalled.notify_one();
    });
    // A client that stalls mid-body must not keep the server alive for ever: once the
    // stop signal came, requests get `shutdown_timeout` to finish. What they leave is
    // an unfinished upload, never a partial blob.
    let deadline = async {
        stopping.notified().await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served.map_err(|e| format!("server error: {e}"))?,
        _ = deadline => tracing::warn!(
            "requests still in flight {:?} after the stop signal; stopping without them",
            config.shutdown_timeout
        ),
    }
    tracing::info!("wharf stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and lets in-flight
/// requests finish.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
