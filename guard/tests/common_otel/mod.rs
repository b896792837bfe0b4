//! Reading mapguard's counters back from an in-memory OpenTelemetry meter provider,
//! for the tests of feature `otel` that install their own providers.

#![allow(dead_code)]

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A provider exporting to memory, and its exporter.
pub fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let e = InMemoryMetricExporter::default();
    let p = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(e.clone()).build())
        .build();
    (p, e)
}

/// The last exported value of mapguard's counter `name` (scope `mapguard`), on the
/// data point of map `map` if given, after mapguard and the provider have flushed.
pub fn counter(
    p: &SdkMeterProvider,
    e: &InMemoryMetricExporter,
    name: &str,
    map: Option<&str>,
) -> Option<u64> {
    mapguard::flush();
    p.force_flush().unwrap();
    let mut value = None;
    for rm in &e.get_finished_metrics().unwrap() {
        for sm in rm
            .scope_metrics()
            .filter(|sm| sm.scope().name() == "mapguard")
        {
            for m in sm.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() {
                    for dp in sum.data_points() {
                        let on_map = map.is_none_or(|map| {
                            dp.attributes().any(|kv| {
                                kv.key.as_str() == "mapguard.map.name" && kv.value.as_str() == map
                            })
                        });
                        if on_map {
                            value = Some(dp.value());
                        }
                    }
                }
            }
        }
    }
    value
}

/// The `Otel` sink's two ways to its event, side by side: `tracing` (bridged with
/// `opentelemetry-appender-tracing`, installed as this process's subscriber) and a
/// `LoggerProvider` handed in, each with its own in-memory exporter.
pub struct TwoPaths {
    pub via_tracing: opentelemetry_sdk::logs::InMemoryLogExporter,
    pub via_logger: opentelemetry_sdk::logs::InMemoryLogExporter,
    /// Kept alive for the exporters.
    _providers: [opentelemetry_sdk::logs::SdkLoggerProvider; 2],
}

impl TwoPaths {
    /// Installs the `tracing` subscriber (once per process) and returns a `Config`
    /// with no outputs but an `Otel` sink on each path, to finish and install.
    pub fn new() -> (TwoPaths, mapguard::Config) {
        use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
        use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
        use tracing_subscriber::prelude::*;
        let provider = |e: &InMemoryLogExporter| {
            SdkLoggerProvider::builder()
                .with_simple_exporter(e.clone())
                .build()
        };
        let via_tracing = InMemoryLogExporter::default();
        let via_logger = InMemoryLogExporter::default();
        let (tracing_provider, logger_provider) = (provider(&via_tracing), provider(&via_logger));
        tracing_subscriber::registry()
            .with(OpenTelemetryTracingBridge::new(&tracing_provider))
            .init();
        let config = mapguard::Config::new()
            .outputs(vec![])
            .sink(mapguard::Otel::new())
            .sink(mapguard::Otel::with_logger_provider(&logger_provider));
        let paths = TwoPaths {
            via_tracing,
            via_logger,
            _providers: [tracing_provider, logger_provider],
        };
        (paths, config)
    }
}

/// A log record's attributes, sorted by key.
pub fn sorted_attributes(
    r: &opentelemetry_sdk::logs::SdkLogRecord,
) -> Vec<(String, opentelemetry::logs::AnyValue)> {
    let mut v: Vec<_> = r
        .attributes_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The `mapguard.finding` events `exporter` received.
pub fn finding_events(
    exporter: &opentelemetry_sdk::logs::InMemoryLogExporter,
) -> Vec<opentelemetry_sdk::logs::SdkLogRecord> {
    exporter
        .get_emitted_logs()
        .unwrap()
        .into_iter()
        .map(|l| l.record)
        .filter(|r| r.event_name() == Some("mapguard.finding"))
        .collect()
}
