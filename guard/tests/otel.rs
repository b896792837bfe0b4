//! The `Otel` sink seen from outside, wired the way an application wires it: the
//! OpenTelemetry SDK with in-memory exporters, `tracing` bridged to the logger
//! provider with `opentelemetry-appender-tracing`. One config for this binary,
//! installed before the app's meter provider exists (the sink must take its meter
//! lazily, or every count below would go to the no-op provider).
//!
//! The real collector is exercised by examples/tests/otel_e2e.rs.

mod common;

use common::on;

use std::sync::OnceLock;

use mapguard::{BacktraceMode, Config, DashMap, Finding, FindingKind, ManualClock, Memory, Otel};
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::prelude::*;

struct App {
    memory: Memory,
    logs: InMemoryLogExporter,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    tracer_provider: SdkTracerProvider,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let memory = Memory::new();
        // mapguard first, as a service that reads MAPGUARD early would.
        Config::new()
            .outputs(vec![])
            .sink(memory.clone())
            .sink(Otel::new())
            .backtrace(BacktraceMode::OnFinding)
            .summary_interval(std::time::Duration::from_secs(3600))
            .install()
            .expect("valid test config");

        let logs = InMemoryLogExporter::default();
        let logger_provider = SdkLoggerProvider::builder()
            .with_simple_exporter(logs.clone())
            .build();
        tracing_subscriber::registry()
            .with(OpenTelemetryTracingBridge::new(&logger_provider))
            .init();

        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        global::set_meter_provider(meter_provider.clone());

        App {
            memory,
            logs,
            metrics,
            meter_provider,
            tracer_provider: SdkTracerProvider::builder().build(),
        }
    })
}

/// The `mapguard.finding` log records about `map`, after flushing mapguard.
fn events(map: &str) -> Vec<SdkLogRecord> {
    mapguard::flush();
    app()
        .logs
        .get_emitted_logs()
        .unwrap()
        .into_iter()
        .map(|l| l.record)
        .filter(|r| r.event_name() == Some("mapguard.finding"))
        .filter(|r| attr(r, "mapguard.map.name") == Some(AnyValue::from(map.to_owned())))
        .collect()
}

fn attr(r: &SdkLogRecord, key: &str) -> Option<AnyValue> {
    r.attributes_iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v.clone())
}

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue::from(v.to_owned()))
}

fn int(v: i64) -> Option<AnyValue> {
    Some(AnyValue::Int(v))
}

/// The value of counter `name` for the data point with these attributes, after a
/// collection. Cumulative, so the last export holds the total.
fn counter(name: &str, attrs: &[(&str, &str)]) -> Option<u64> {
    mapguard::flush();
    let app = app();
    app.meter_provider.force_flush().unwrap();
    let exported = app.metrics.get_finished_metrics().unwrap();
    let mut value = None;
    for rm in &exported {
        for sm in rm
            .scope_metrics()
            .filter(|sm| sm.scope().name() == "mapguard")
        {
            for m in sm.metrics().filter(|m| m.name() == name) {
                assert_eq!(m.unit(), "{finding}");
                let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() else {
                    panic!("{name} is not a u64 sum");
                };
                assert!(sum.is_monotonic(), "{name} is a counter");
                for dp in sum.data_points() {
                    let matches = attrs.iter().all(|(k, v)| {
                        dp.attributes()
                            .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
                    });
                    if matches && dp.attributes().count() == attrs.len() {
                        value = Some(dp.value());
                    }
                }
            }
        }
    }
    value
}

fn the_finding(kind: FindingKind, map: &str) -> Finding {
    mapguard::flush();
    let found = app().memory.of(kind, map);
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn an_event_carries_the_finding() {
    app();
    let map: DashMap<u64, u64> = DashMap::named("otel-cw").with_clock(ManualClock::new());
    let first = line!() + 1;
    on("writer-a", || map.insert(1, 1));
    let second = line!() + 1;
    on("writer-b", || map.insert(2, 2));

    let f = the_finding(FindingKind::ConcurrentWrite, "otel-cw");
    let ev = events("otel-cw");
    assert_eq!(ev.len(), 1, "one event per reported finding");
    let r = &ev[0];
    assert_eq!(r.severity_number(), Some(Severity::Warn));
    assert_eq!(r.body(), Some(&AnyValue::from(f.summary())));
    assert_eq!(attr(r, "mapguard.finding.kind"), s("concurrent_write"));
    assert_eq!(attr(r, "mapguard.scope"), s("map"));
    assert_eq!(attr(r, "mapguard.same_key"), Some(AnyValue::Boolean(false)));
    assert_eq!(attr(r, "mapguard.window_ms"), int(100));
    assert_eq!(attr(r, "mapguard.fingerprint"), s(&f.fingerprint));
    assert_eq!(attr(r, "mapguard.hint"), s(&f.hint));
    assert!(
        f.hint.contains("Scope::Key"),
        "the hint names the safe setting"
    );
    assert!(attr(r, "mapguard.gap_ms").is_some());
    // The access that completed the finding, under the semantic-convention names.
    assert_eq!(attr(r, "thread.name"), s("writer-b"));
    assert_eq!(attr(r, "thread.id"), int(f.accesses[1].thread_id as i64));
    assert_eq!(attr(r, "code.file.path"), s(file!()));
    assert_eq!(attr(r, "code.line.number"), int(second as i64));
    assert!(matches!(attr(r, "code.column.number"), Some(AnyValue::Int(c)) if c > 0));
    assert_eq!(attr(r, "mapguard.op"), s("insert"));
    // A new finding captures its stack (on_finding): resolved, in app frames.
    let Some(AnyValue::String(st)) = attr(r, "code.stacktrace") else {
        panic!("no code.stacktrace");
    };
    assert!(st.as_str().contains("tests/otel.rs"), "{st}");
    assert!(attr(r, "code.function.name").is_some());
    // The other thread's access, under mapguard.other.*.
    assert_eq!(attr(r, "mapguard.other.thread.name"), s("writer-a"));
    assert_eq!(attr(r, "mapguard.other.code.file.path"), s(file!()));
    assert_eq!(
        attr(r, "mapguard.other.code.line.number"),
        int(first as i64)
    );
    assert_eq!(attr(r, "mapguard.other.op"), s("insert"));
    assert_eq!(attr(r, "mapguard.other.code.stacktrace"), None);
    assert_eq!(attr(r, "mapguard.read.code.line.number"), None);
}

#[test]
fn a_lost_update_names_its_read() {
    app();
    let map: DashMap<u64, u64> = DashMap::named("otel-lost").with_clock(ManualClock::new());
    map.insert(7, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (read_line, stale_line) = std::thread::scope(|sc| {
        let m = &map;
        let reader = std::thread::Builder::new()
            .name("reader".into())
            .spawn_scoped(sc, move || {
                let (v, read_line) = (*m.get(&7).unwrap(), line!());
                tx.send(()).unwrap();
                wait.recv().unwrap();
                let (_, stale_line) = (m.insert(7, v + 1), line!());
                (read_line, stale_line)
            })
            .unwrap();
        rx.recv().unwrap();
        on("intruder", || m.insert(7, 100));
        go.send(()).unwrap();
        reader.join().unwrap()
    });
    the_finding(FindingKind::LostUpdate, "otel-lost");
    let ev = events("otel-lost");
    let r = ev
        .iter()
        .find(|r| attr(r, "mapguard.finding.kind") == s("lost_update"))
        .expect("a lost_update event");
    assert_eq!(attr(r, "thread.name"), s("reader"));
    assert_eq!(attr(r, "code.line.number"), int(stale_line as i64));
    assert_eq!(attr(r, "mapguard.other.thread.name"), s("intruder"));
    assert_eq!(attr(r, "mapguard.read.thread.name"), s("reader"));
    assert_eq!(
        attr(r, "mapguard.read.code.line.number"),
        int(read_line as i64)
    );
    assert_eq!(attr(r, "mapguard.read.op"), s("get"));
    assert_eq!(attr(r, "mapguard.same_key"), Some(AnyValue::Boolean(true)));
    assert!(attr(r, "mapguard.key_hash").is_some());
}

#[test]
fn the_counter_counts_every_occurrence_and_the_log_one_event() {
    app();
    let map: DashMap<u64, u64> = DashMap::named("otel-count").with_clock(ManualClock::new());
    let before = mapguard::stats();
    for _ in 0..50 {
        on("a", || map.insert(1, 1));
        on("b", || map.insert(1, 2));
    }
    // 100 writes alternating threads: every write after the first conflicts.
    let kind_map = [
        ("mapguard.finding.kind", "concurrent_write"),
        ("mapguard.map.name", "otel-count"),
    ];
    assert_eq!(counter("mapguard.findings", &kind_map), Some(99));
    assert_eq!(events("otel-count").len(), 1);
    let after = mapguard::stats();
    let duplicates = counter("mapguard.duplicate_findings", &[]).expect("exported");
    assert!(duplicates >= after.duplicates - before.duplicates);
    assert!(duplicates >= 98, "{duplicates}");
    // Exported from the start, so an alert on it has a series to look at.
    assert_eq!(counter("mapguard.dropped_findings", &[]), Some(0));
}

#[test]
fn the_event_joins_the_span_current_where_the_finding_was_made() {
    let app = app();
    let tracer = app.tracer_provider.tracer("test");
    let map: DashMap<u64, u64> = DashMap::named("otel-span").with_clock(ManualClock::new());
    on("before", || map.insert(1, 1));
    let (trace_id, span_id) = on("in-span", || {
        tracer.in_span("handle-request", |cx| {
            map.insert(2, 2);
            let sc = cx.span().span_context().clone();
            (sc.trace_id(), sc.span_id())
        })
    });
    let ev = events("otel-span");
    assert_eq!(ev.len(), 1);
    let tc = ev[0]
        .trace_context()
        .expect("the event carries the span's ids");
    assert_eq!(tc.trace_id, trace_id);
    assert_eq!(tc.span_id, span_id);
}

#[test]
fn a_finding_where_telemetry_is_suppressed_is_counted_but_not_logged() {
    app();
    let map: DashMap<u64, u64> = DashMap::named("otel-suppressed").with_clock(ManualClock::new());
    on("exporter-1", || map.insert(1, 1));
    on("exporter-2", || {
        // As on the SDK's own export threads.
        let _g = Context::enter_telemetry_suppressed_scope();
        map.insert(2, 2)
    });
    the_finding(FindingKind::ConcurrentWrite, "otel-suppressed");
    assert!(events("otel-suppressed").is_empty());
    let kind_map = [
        ("mapguard.finding.kind", "concurrent_write"),
        ("mapguard.map.name", "otel-suppressed"),
    ];
    assert_eq!(counter("mapguard.findings", &kind_map), Some(1));
}
