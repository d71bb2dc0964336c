//! The observability options of `wharf serve`: log format and request lines, metrics,
//! and OpenTelemetry traces (the `log_format`/`log_requests` keys, the `[metrics]` and
//! `[tracing]` sections, their flags and `WHARF_*` variables).

use crate::cli::ServeArgs;
use serde::Deserialize;
use std::net::SocketAddr;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logging, metrics and traces as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ObserveConfig {
    /// The log filter (`--log`).
    pub log: String,
    pub log_format: LogFormat,
    /// One line per request (off: `wharf::access=off`).
    pub log_requests: bool,
    pub metrics: MetricsConfig,
    pub tracing: TracingConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Where `/metrics` is served; `None`: on the main listener.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// The OTLP/HTTP collector's base URL; `None`: no traces.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
    pub sample_ratio: f64,
}

/// The `[metrics]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFileConfig {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
}

/// The `[tracing]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingFileConfig {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
    sample_ratio: Option<f64>,
}

/// The file's keys that belong here.
#[derive(Debug, Default)]
pub struct ObserveFileConfig {
    pub log: Option<String>,
    pub log_format: Option<String>,
    pub log_requests: Option<bool>,
    pub metrics: Option<MetricsFileConfig>,
    pub tracing: Option<TracingFileConfig>,
}

impl ObserveConfig {
    /// Flags (and variables) over the file, over the defaults.
    pub fn merge(args: &ServeArgs, file: ObserveFileConfig) -> Result<ObserveConfig, String> {
        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(format!("log_format must be 'text' or 'json', not {other:?}")),
        };
        let metrics_file = file.metrics.unwrap_or_default();
        let tracing_file = file.tracing.unwrap_or_default();
        let sample_ratio = args.otlp_sample_ratio.or(tracing_file.sample_ratio).unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            return Err(format!(
                "the traces' sample_ratio must be from 0 to 1, not {sample_ratio}"
            ));
        }
        let otlp_endpoint = args
            .otlp_endpoint
            .clone()
            .or(tracing_file.otlp_endpoint)
            .filter(|e| !e.is_empty());
        if let Some(endpoint) = &otlp_endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(format!(
                    "the OTLP endpoint must be an http:// or https:// URL, not {endpoint:?}"
                ));
            }
        }
        Ok(ObserveConfig {
            log: args.log.clone().or(file.log).unwrap_or_else(|| "info".into()),
            log_format,
            log_requests: args.log_requests.or(file.log_requests).unwrap_or(true),
            metrics: MetricsConfig {
                enabled: args.metrics_enabled.or(metrics_file.enabled).unwrap_or(true),
                listen: args.metrics_listen.or(metrics_file.listen),
            },
            tracing: TracingConfig {
                otlp_endpoint,
                service_name: args
                    .otlp_service_name
                    .clone()
                    .or(tracing_file.service_name)
                    .unwrap_or_else(|| "wharf".into()),
                sample_ratio,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> ObserveFileConfig {
        #[derive(Deserialize)]
        struct Sections {
            log_format: Option<String>,
            log_requests: Option<bool>,
            metrics: Option<MetricsFileConfig>,
            tracing: Option<TracingFileConfig>,
        }
        let s: Sections = toml::from_str(toml_text).unwrap();
        ObserveFileConfig {
            log: None,
            log_format: s.log_format,
            log_requests: s.log_requests,
            metrics: s.metrics,
            tracing: s.tracing,
        }
    }

    #[test]
    fn defaults_the_file_and_flags() {
        let config = ObserveConfig::merge(&ServeArgs::default(), ObserveFileConfig::default()).unwrap();
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.log_requests);
        assert!(config.metrics.enabled);
        assert_eq!(config.metrics.listen, None);
        assert_eq!(config.tracing.otlp_endpoint, None);
        assert_eq!(config.tracing.service_name, "wharf");

        let from_file = file(
            "log_format = \"json\"\nlog_requests = false\n[metrics]\nlisten = \"127.0.0.1:9100\"\n[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\nservice_name = \"reg\"\nsample_ratio = 0.25",
        );
        let args = ServeArgs {
            metrics_enabled: Some(false),
            otlp_service_name: Some("flag".into()),
            ..Default::default()
        };
        let config = ObserveConfig::merge(&args, from_file).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(!config.log_requests);
        assert!(!config.metrics.enabled, "the flag beats the file");
        assert_eq!(config.metrics.listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(config.tracing.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(config.tracing.service_name, "flag");
        assert_eq!(config.tracing.sample_ratio, 0.25);
    }

    #[test]
    fn refuses_bad_values() {
        for args in [
            ServeArgs {
                log_format: Some("xml".into()),
                ..Default::default()
            },
            ServeArgs {
                otlp_sample_ratio: Some(1.5),
                ..Default::default()
            },
            ServeArgs {
                otlp_endpoint: Some("127.0.0.1:4318".into()),
                ..Default::default()
            },
        ] {
            assert!(
                ObserveConfig::merge(&args, ObserveFileConfig::default()).is_err(),
                "{args:?}"
            );
        }
        assert!(toml::from_str::<MetricsFileConfig>("port = 1").is_err());
    }
}
