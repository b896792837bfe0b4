//! The two ways the `Otel` sink emits its event give the same record: through
//! `tracing` (bridged with `opentelemetry-appender-tracing`) and straight to a
//! `LoggerProvider` handed in. Both sinks are installed side by side here, each
//! with its own provider and in-memory exporter.

use mapguard::ManualClock;
use mapguard::{BacktraceMode, Config, DashMap, Otel};
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::prelude::*;

fn provider(exporter: &InMemoryLogExporter) -> SdkLoggerProvider {
    SdkLoggerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build()
}

fn the_event(exporter: &InMemoryLogExporter) -> SdkLogRecord {
    let mut records: Vec<SdkLogRecord> = exporter
        .get_emitted_logs()
        .unwrap()
        .into_iter()
        .map(|l| l.record)
        .filter(|r| r.event_name() == Some("mapguard.finding"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    records.pop().unwrap()
}

fn sorted_attributes(r: &SdkLogRecord) -> Vec<(String, AnyValue)> {
    let mut v: Vec<(String, AnyValue)> = r
        .attributes_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn tracing_and_logger_provider_paths_emit_the_same_event() {
    let via_tracing = InMemoryLogExporter::default();
    let via_logger = InMemoryLogExporter::default();
    let tracing_provider = provider(&via_tracing);
    let logger_provider = provider(&via_logger);
    tracing_subscriber::registry()
        .with(OpenTelemetryTracingBridge::new(&tracing_provider))
        .init();
    Config::new()
        .outputs(vec![])
        .sink(Otel::new())
        .sink(Otel::with_logger_provider(&logger_provider))
        // Every write keeps its stack: both accesses carry code.stacktrace.
        .backtrace(BacktraceMode::Always)
        .install()
        .unwrap();

    let tracer = SdkTracerProvider::builder().build().tracer("test");
    let map: DashMap<u64, u64> = DashMap::named("paths").with_clock(ManualClock::new());
    let worker = |name: &str, key: u64| {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, || {
                    tracer.in_span("request", |cx| {
                        map.insert(key, key);
                        cx.span().span_context().clone()
                    })
                })
                .unwrap()
                .join()
                .unwrap()
        })
    };
    worker("first", 1);
    let span = worker("second", 2);
    mapguard::flush();

    let a = the_event(&via_tracing);
    let b = the_event(&via_logger);
    assert_eq!(a.severity_number(), Some(Severity::Warn));
    assert_eq!(b.severity_number(), Some(Severity::Warn));
    assert_eq!(a.severity_text(), b.severity_text());
    assert_eq!(a.body(), b.body());
    assert_eq!(a.target(), b.target());
    let (aa, ba) = (sorted_attributes(&a), sorted_attributes(&b));
    assert_eq!(aa, ba);
    for key in ["code.stacktrace", "mapguard.other.code.stacktrace"] {
        assert!(aa.iter().any(|(k, _)| k == key), "{key} missing: {aa:?}");
    }
    for r in [&a, &b] {
        let tc = r.trace_context().expect("trace context");
        assert_eq!(tc.trace_id, span.trace_id());
        assert_eq!(tc.span_id, span.span_id());
    }
    // Only the logger path can set the event's time to the finding's time.
    assert!(b.timestamp().is_some());
}
