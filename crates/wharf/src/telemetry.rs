//! Logging and tracing set-up of `wharf serve`: the log format, the request lines, and,
//! in a build with the `otlp` feature, OpenTelemetry traces.

use crate::observe_config::{LogFormat, ObserveConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Lines queued for the log writer thread. The queue is allocated whole at start, so it
/// is kept small (the default of 128,000 lines costs megabytes of idle memory); when it
/// is full, lines are dropped rather than slowing requests down.
const LOG_QUEUE_LINES: usize = 4096;

/// Keep it until exit: dropping it flushes the log lines still queued and the spans not
/// yet exported.
pub struct Guard {
    _log: tracing_appender::non_blocking::WorkerGuard,
    #[cfg(feature = "otlp")]
    traces: Option<crate::otlp::Traces>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(traces) = self.traces.take() {
            traces.shutdown();
        }
    }
}

/// Logs to stderr through a writer thread: a request formats its line and hands it over
/// instead of waiting for the write, which at tens of thousands of requests a second is
/// a quarter of the server's work.
pub fn init(config: &ObserveConfig) -> Result<Guard, String> {
    let mut filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    if !config.log_requests {
        filter = filter.add_directive(
            format!("{}=off", wharf_registry::http::ACCESS_LOG_TARGET)
                .parse()
                .expect("a valid directive"),
        );
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let lines = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        // One object a line, the event's fields at the top level; events inside a
        // request carry its span (request_id, method, endpoint).
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    match &config.tracing.otlp_endpoint {
        None => {
            // The filter applies to everything: spans and events it turns away cost a
            // check of their call site, once.
            tracing_subscriber::registry().with(lines).with(filter).init();
            Ok(Guard {
                _log: guard,
                #[cfg(feature = "otlp")]
                traces: None,
            })
        }
        #[cfg(feature = "otlp")]
        Some(_) => {
            // The log filter is the log lines' own; the traces see the request spans and
            // the registry's debug spans (metadata and blob-store calls) whatever it is.
            let traces = crate::otlp::Traces::start(&config.tracing)?;
            tracing_subscriber::registry()
                .with(lines.with_filter(filter))
                .with(traces.layer())
                .init();
            Ok(Guard {
                _log: guard,
                traces: Some(traces),
            })
        }
        #[cfg(not(feature = "otlp"))]
        Some(_) => Err(
            "OpenTelemetry traces (otlp_endpoint) need a wharf built with them: cargo build --release --features otlp"
                .into(),
        ),
    }
}
