//! OpenTelemetry traces over OTLP/HTTP (protobuf), in builds with the `otlp` feature:
//! a span per request (`request`, with its id, method, endpoint kind and status) and,
//! inside it, one per metadata and blob-store call of the registry.

use crate::observe_config::TracingConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The exporter, running until [`Traces::shutdown`] (which sends what is still queued).
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts exporting to the collector at `config.otlp_endpoint`.
    pub fn start(config: &TracingConfig) -> Result<Traces, String> {
        let base = config.otlp_endpoint.as_deref().expect("an endpoint is configured");
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(base))
            .build()
            .map_err(|e| format!("cannot set up the OTLP exporter for {base}: {e}"))?;
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        Ok(Traces { provider })
    }

    /// The layer that turns spans into OpenTelemetry spans: the request spans and the
    /// registry's own (at debug level), whatever the log filter says.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let spans = Targets::new()
            .with_target("wharf::request", LevelFilter::INFO)
            .with_target("wharf_registry", LevelFilter::DEBUG);
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("wharf"))
            .with_filter(spans)
    }

    /// Sends the spans still queued and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("wharf: sending the last traces: {e}");
        }
    }
}

/// The collector's base URL (as `OTEL_EXPORTER_OTLP_ENDPOINT` gives it) with the
/// traces path, unless it is there already.
fn traces_url(base: &str) -> String {
    if base.trim_end_matches('/').ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(super::traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(super::traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(super::traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
    }
}
