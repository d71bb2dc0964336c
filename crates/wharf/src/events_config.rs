//! The `[events]` section of the config file: where event notifications go.
//!
//! ```toml
//! [events]
//! source = "https://registry.example.com"   # the CloudEvents `source`
//! max_age = "24h"                            # undelivered events are dropped after this
//!
//! [[events.endpoints]]
//! url = "https://hooks.example.com/wharf"
//! secret = "…"                               # signs deliveries (Wharf-Signature)
//! repositories = "prod/**"                   # glob, or a list of globs
//! events = ["manifest.pushed", "tag.moved"]  # kinds, all when omitted
//! timeout = "10s"
//! ```

use crate::lifecycle::OneOrMany;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use wharf_registry::events::{Dispatcher, DispatcherHandle, Endpoint, EventKind, EventsConfig};
use wharf_registry::meta::MetaStore;
use wharf_registry::registry::policy::Globs;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFileConfig {
    source: Option<String>,
    #[serde(default, with = "humantime_serde")]
    max_age: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    retry_initial: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    retry_max: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    poll: Option<Duration>,
    #[serde(default)]
    endpoints: Vec<EndpointFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    name: Option<String>,
    url: String,
    secret: Option<String>,
    repositories: Option<OneOrMany>,
    events: Option<OneOrMany>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
}

impl EventsFileConfig {
    /// The registry's events configuration; `listen` names the default `source`.
    pub fn resolve(self, default_source: String) -> Result<EventsConfig, String> {
        let defaults = EventsConfig::default();
        let mut names = std::collections::HashSet::new();
        let mut endpoints = Vec::new();
        for e in self.endpoints {
            let url = reqwest_url(&e.url)?;
            let mut endpoint = Endpoint::new(url);
            if let Some(name) = e.name {
                endpoint.name = name;
            }
            if !names.insert(endpoint.name.clone()) {
                return Err(format!(
                    "[[events.endpoints]]: two endpoints are named {:?} (give each a distinct `name`)",
                    endpoint.name
                ));
            }
            endpoint.secret = e.secret.filter(|s| !s.is_empty());
            if let Some(globs) = e.repositories {
                endpoint.repositories =
                    Some(Globs::new(&list(globs)).map_err(|e| format!("[[events.endpoints]] repositories: {e}"))?);
            }
            if let Some(kinds) = e.events {
                let kinds = list(kinds)
                    .iter()
                    .map(|k| EventKind::parse(k))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("[[events.endpoints]] events: {e}"))?;
                endpoint.events = Some(kinds);
            }
            if let Some(timeout) = e.timeout.filter(|t| !t.is_zero()) {
                endpoint.timeout = timeout;
            }
            endpoints.push(endpoint);
        }
        let positive = |d: Option<Duration>, default: Duration| d.filter(|d| !d.is_zero()).unwrap_or(default);
        let mut config = defaults;
        config.max_age = positive(self.max_age, config.max_age);
        config.retry_initial = positive(self.retry_initial, config.retry_initial);
        config.retry_max = positive(self.retry_max, config.retry_max);
        config.poll = positive(self.poll, config.poll);
        config.source = self.source.unwrap_or(default_source);
        config.endpoints = endpoints;
        Ok(config)
    }
}

fn list(value: OneOrMany) -> Vec<String> {
    match value {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }
}

/// `url` if it is an http or https URL.
fn reqwest_url(url: &str) -> Result<String, String> {
    let parsed: wharf_registry::axum::http::Uri = url
        .parse()
        .map_err(|e| format!("[[events.endpoints]] url {url:?}: {e}"))?;
    match parsed.scheme_str() {
        Some("http" | "https") if parsed.host().is_some() => Ok(url.to_string()),
        _ => Err(format!(
            "[[events.endpoints]] url {url:?}: must be an http:// or https:// URL"
        )),
    }
}

/// Starts delivering events when an endpoint is configured (until the handle drops).
pub fn start(
    meta: Arc<dyn MetaStore>,
    config: &EventsConfig,
    listen: std::net::SocketAddr,
) -> Result<Option<DispatcherHandle>, String> {
    if !config.enabled() {
        return Ok(None);
    }
    let names: Vec<&str> = config.endpoints.iter().map(|e| e.name.as_str()).collect();
    tracing::info!("event notifications to {}", names.join(", "));
    let dispatcher = Dispatcher::new(meta, config.clone())?.with_holder(holder(listen));
    Ok(Some(dispatcher.spawn()))
}

/// This server's name for its delivery leases: the host and the listen address, the
/// same after a restart (which then resumes deliveries at once), distinct between
/// replicas.
fn holder(listen: std::net::SocketAddr) -> String {
    let mut name = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and the last byte stays 0.
    let host = if unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len() - 1) } == 0 {
        let end = name.iter().position(|b| *b == 0).unwrap_or(0);
        String::from_utf8_lossy(&name[..end]).into_owned()
    } else {
        String::new()
    };
    format!("{host}/{listen}")
}
