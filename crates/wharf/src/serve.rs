//! `wharf serve`: files under the data directory, metadata in SQLite beside them or in
//! PostgreSQL, an HTTP listener, the
//! registry's background work (abandoned uploads), and a graceful stop on SIGTERM or SIGINT.

use crate::config::{ConnectionLimits, ServeConfig, DEFAULT_MAX_CONNECTIONS};
use std::sync::Arc;
use tokio::net::TcpListener;
use wharf_registry::maintenance::{ApplyRetention, CollectGarbage, Scrub};
use wharf_registry::{Maintenance, Registry};

/// How the server stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// On a stop signal, after the requests in flight finished or `shutdown_timeout`.
    Gracefully,
    /// On a second stop signal, without waiting for the requests in flight.
    AtOnce,
}

pub async fn run(config: ServeConfig) -> Result<Stopped, String> {
    // Listening from the start: a signal during start-up is not lost, and the handlers
    // stay in place for a second signal.
    let mut signals = StopSignals::new().map_err(|e| format!("cannot listen for stop signals: {e}"))?;
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
    let blobs = config.storage.open(data_dir, config.durable).await?;
    let meta = config.metadata.open(data_dir, config.durable).await?;
    let upstreams = crate::upstream::build(&config.upstreams)?;
    let registry = Arc::new(Registry::new(blobs, meta.clone(), config.registry.clone()).with_upstreams(upstreams));
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
    } else if registry.upstreams().routes().iter().any(|r| r.max_size.is_some()) {
        tracing::warn!(
            "garbage collection is off: the max_size of upstream caches is not enforced (it runs with each collection)"
        );
    }
    // The storage lifecycle: retention as often as collection, scrub when configured.
    if !config.registry.policies.retention.is_empty() {
        maintenance = maintenance.with_job(ApplyRetention::every(config.gc.interval));
    }
    if let Some(interval) = config.scrub.interval {
        maintenance = maintenance.with_job(Scrub::every(interval, config.scrub.options.clone()));
    }
    let _maintenance = maintenance.spawn();
    // Event notifications: the outbox delivered to the configured endpoints.
    let _events = crate::events_config::start(meta, &config.registry.events, config.listen)?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // TLS: the files are read now (a bad pair stops the start), then watched.
    let tls = match &config.tls {
        Some(files) => {
            let tls = crate::tls::ServerTls::load(files.clone())?;
            tls.watch(crate::tls::reload::POLL_EVERY);
            Some(tls)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "wharf listening on {scheme}://{address}, data in {}, {}, {} mode",
        std::path::absolute(data_dir).as_deref().unwrap_or(data_dir).display(),
        config.metadata.describe(),
        if config.durable { "durable" } else { "relaxed" }
    );
    let access = crate::auth::access_control_over(&config.auth, config.listen, scheme, data_dir)?;
    let client_certs = config.tls.as_ref().is_some_and(|tls| tls.client_ca.is_some());
    let access = match access {
        Some(access) if client_certs => Some(crate::auth::with_client_certificates(access, &config.auth)),
        access => access,
    };
    let access = match (
        access,
        crate::login_limits::shared(&config.auth, &config.metadata).await?,
    ) {
        (Some(access), Some(shared)) => Some(access.with_login_limits(Some(shared))),
        (access, _) => access,
    };
    let access = access.map(Arc::new);
    let app = match access.clone() {
        Some(access) => {
            tracing::info!("access control on: {:?} mode", config.auth.mode);
            wharf_registry::router_with_shared_access(registry.clone(), access)
        }
        None => {
            let certificate_required = config
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_ca.is_some() && tls.client_auth == crate::tls::ClientAuth::Required);
            if !config.listen.ip().is_loopback() && !certificate_required {
                tracing::warn!(
                    "no access control and listening on {}: anyone who can reach it may push",
                    config.listen
                );
            }
            wharf_registry::router(registry.clone())
        }
    };
    // The web UI beside the API, on its own routes (/ui/…, and / redirecting there).
    let app = if config.ui.enabled {
        app.merge(crate::ui::router(&config, registry.clone(), access, tls.is_some())?)
    } else {
        app
    };
    // Behind trusted proxies, the client's address is the one they forward.
    let app = wharf_registry::http::forwarded::with_trusted_proxies(app, config.trusted_proxies.clone());
    let limits = connection_limits(&config.connections, crate::listener::raise_open_file_limit());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Metrics: /metrics on the main listener, or on an address of its own.
    let app = crate::metrics::serve(&config.observe.metrics, app, limits, stopped.clone()).await?;
    let server = crate::listener::serve(listener, app, limits, tls, stopped);
    // A client that stalls mid-body must not keep the server alive for ever: once the
    // stop signal came, requests get `shutdown_timeout` to finish, or until a second
    // signal. What they leave is an unfinished upload, never a partial blob.
    let stopping = async {
        signals.next().await;
        tracing::info!("shutting down: finishing in-flight requests (a second signal stops at once)");
        // `/readyz` answers 503 from now on, to requests still in flight.
        registry.begin_shutdown();
        // Still serving, not ready, for the shutdown delay: a load balancer that polls
        // `/readyz` takes the server out before its listener closes.
        if !config.shutdown_delay.is_zero() {
            tracing::info!(
                "not ready; serving for {:?} more before closing the listener",
                config.shutdown_delay
            );
            tokio::select! {
                () = tokio::time::sleep(config.shutdown_delay) => {}
                () = signals.next() => return Stopped::AtOnce,
            }
        }
        let _ = stop.send(true);
        tokio::select! {
            () = tokio::time::sleep(config.shutdown_timeout) => {
                tracing::warn!(
                    "requests still in flight {:?} after the stop signal; stopping without them",
                    config.shutdown_timeout
                );
                Stopped::Gracefully
            }
            () = signals.next() => Stopped::AtOnce,
        }
    };
    let stopped = tokio::select! {
        () = server => Stopped::Gracefully,
        stopped = stopping => stopped,
    };
    // Pull times noted since the last flush (the background work's) are written now,
    // not lost with the process.
    if let Err(e) = registry.flush_pulls().await {
        tracing::warn!("pull times not written at stop: {}", e.message);
    }
    match stopped {
        Stopped::Gracefully => tracing::info!("wharf stopped"),
        Stopped::AtOnce => {
            tracing::warn!("second stop signal: wharf stopped at once, without the requests still in flight")
        }
    }
    Ok(stopped)
}

/// The listener's limits: the connection cap as configured (or the default), but at most
/// half the open-file limit, so that the requests on those connections can still open
/// blob files and the database.
fn connection_limits(config: &ConnectionLimits, open_files: Option<u64>) -> crate::listener::Limits {
    let room = open_files.map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX).max(1));
    let max_connections = match config.max_connections {
        Some(asked) if asked > room => {
            tracing::warn!(
                "max_connections {asked} is more than half the open-file limit ({}): at most {room} connections",
                open_files.unwrap_or_default()
            );
            room
        }
        Some(asked) => asked,
        None => DEFAULT_MAX_CONNECTIONS.min(room),
    };
    tracing::info!(
        "at most {max_connections} connections; headers within {:?}, idle ones closed after {:?}",
        config.header_timeout,
        config.idle_timeout
    );
    crate::listener::Limits {
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        max_connections,
    }
}

/// SIGINT and SIGTERM, each time one arrives: the first stops the server gracefully, a
/// second one at once.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    #[cfg(unix)]
    fn new() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<StopSignals> {
        Ok(StopSignals {})
    }

    /// Resolves when the next SIGINT or SIGTERM arrives.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
