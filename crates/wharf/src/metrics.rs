//! Prometheus metrics of `wharf serve`: the recorder behind the registry's `metrics`
//! calls (see `wharf_registry::metrics` for what is measured) and the `/metrics` route
//! that renders it, on the main listener or on an address of its own.

use crate::observe_config::MetricsConfig;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;
use wharf_registry::metrics as names;

/// Bucket bounds of the duration histograms, in seconds: from half a millisecond (a
/// manifest from memory) to a minute (a big blob's body).
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Bucket bounds of the group-commit sizes (at most 256 writes a group).
const GROUP_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process's metrics recorder. Call once, inside the runtime.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(names::DB_COMMIT_GROUP.into()), GROUP_SIZES))
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    names::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`: the Prometheus text format. Unauthenticated, as Prometheus expects;
/// `--metrics-listen` puts it on a private address instead of the main one.
pub fn routes(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }
        }),
    )
}

/// Turns metrics on as configured: `app` with `/metrics` added, or `app` as it is and
/// `/metrics` served on `config.listen` (until `stop`), or nothing at all when off.
pub async fn serve(
    config: &MetricsConfig,
    app: Router,
    limits: crate::listener::Limits,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Router, String> {
    if !config.enabled {
        return Ok(app);
    }
    let handle = install()?;
    let Some(address) = config.listen else {
        return Ok(app.merge(routes(handle)));
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address} for metrics: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("metrics on http://{bound}/metrics");
    tokio::spawn(crate::listener::serve(listener, routes(handle), limits, None, stop));
    Ok(app)
}
