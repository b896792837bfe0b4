//! The two ways the `Otel` sink emits its event give the same record: through
//! `tracing` (bridged with `opentelemetry-appender-tracing`) and straight to a
//! `LoggerProvider` handed in. Both sinks are installed side by side here, each
//! with its own provider and in-memory exporter.

mod common_otel;

use common_otel::{TwoPaths, finding_events, sorted_attributes};
use mapguard::ManualClock;
use mapguard::{BacktraceMode, DashMap};
use opentelemetry::logs::Severity;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord};
use opentelemetry_sdk::trace::SdkTracerProvider;

fn the_event(exporter: &InMemoryLogExporter) -> SdkLogRecord {
    let mut records = finding_events(exporter);
    assert_eq!(records.len(), 1, "{records:?}");
    records.pop().unwrap()
}

#[test]
fn tracing_and_logger_provider_paths_emit_the_same_event() {
    let (paths, config) = TwoPaths::new();
    config
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

    let a = the_event(&paths.via_tracing);
    let b = the_event(&paths.via_logger);
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
