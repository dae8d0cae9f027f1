//! Log output (structured lines on stderr, human or JSON) and, for `serve`, OpenTelemetry traces
//! exported over OTLP/HTTP.

use std::io::IsTerminal;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogConfig, LogFormat, TracingConfig};

/// The crates whose spans are exported. The exporter's own HTTP client and the libraries below
/// authd stay out, so exporting never produces spans to export.
const TRACED_CRATES: [&str; 6] = ["authd", "auth_http", "auth_store", "auth_crypto", "auth_core", "auth_mail"];

/// The trace pipeline, when on. [`Telemetry::shutdown`] flushes the spans it still holds.
#[must_use = "shut it down to flush the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is still buffered and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        // The exporter blocks on its HTTP client; keep that off the async workers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "could not flush the last spans to the collector");
        }
    }
}

/// Installs the global subscriber for logs only. `RUST_LOG`, when set, overrides the configured
/// level.
pub fn init(config: &LogConfig) {
    // A second initialisation (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry().with(log_layer(config)).try_init();
}

/// Installs the global subscriber for logs and, when `tracing.otlp_endpoint` is set, for spans
/// exported to that collector.
pub fn init_with_traces(log: &LogConfig, traces: &TracingConfig) -> anyhow::Result<Telemetry> {
    if !traces.enabled() {
        init(log);
        return Ok(Telemetry { provider: None });
    }
    let provider = provider(traces)?;
    let tracer = provider.tracer("authd");
    let targets =
        TRACED_CRATES.iter().fold(Targets::new(), |targets, name| targets.with_target(*name, LevelFilter::INFO));
    let spans = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(targets);
    let _ = tracing_subscriber::registry().with(log_layer(log)).with(spans).try_init();
    tracing::info!(
        endpoint = %traces_url(&traces.otlp_endpoint),
        service = %traces.service_name,
        sample_ratio = traces.sample_ratio,
        "exporting traces over OTLP/HTTP"
    );
    Ok(Telemetry { provider: Some(provider) })
}

/// Log lines on stderr, filtered by `log.level` (or `RUST_LOG`) independently of the spans.
fn log_layer(config: &LogConfig) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match config.format {
        LogFormat::Pretty => layer.with_filter(filter).boxed(),
        LogFormat::Json => layer.json().flatten_event(true).with_current_span(true).with_filter(filter).boxed(),
    }
}

/// The batching span pipeline to the collector. Export timeout (10 s), headers and batching
/// follow the standard `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` variables.
fn provider(config: &TracingConfig) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(&config.otlp_endpoint))
        .build()
        .context("cannot set up the OTLP trace exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // Parent-based: the spans of a request follow its root's decision, so traces stay whole.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
        .with_resource(resource)
        .build())
}

/// The traces URL for a collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` reads it: the
/// signal path is added unless the URL already ends with it.
fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_path_is_added_once() {
        assert_eq!(traces_url("http://collector:4318"), "http://collector:4318/v1/traces");
        assert_eq!(traces_url("http://collector:4318/"), "http://collector:4318/v1/traces");
        assert_eq!(traces_url("https://otel.example.com/v1/traces"), "https://otel.example.com/v1/traces");
        assert_eq!(traces_url("https://gw.example.com/otlp"), "https://gw.example.com/otlp/v1/traces");
    }
}
