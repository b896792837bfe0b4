//! A finding made without its stack, in a burst of new findings, says so through
//! both of the `Otel` sink's paths alike (`tracing` bridged, and a `LoggerProvider`
//! handed in), and one made with its stack does not.

mod common;
mod common_otel;

use common::{STACKS_AHEAD, conflict, fresh_maps};
use common_otel::{TwoPaths, finding_events, sorted_attributes};

use mapguard::BacktraceMode;
use opentelemetry::logs::AnyValue;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord};

/// The finding event on `map`, from `exporter`.
fn event_on(exporter: &InMemoryLogExporter, map: &str) -> SdkLogRecord {
    let mut records: Vec<SdkLogRecord> = finding_events(exporter)
        .into_iter()
        .filter(|r| {
            r.attributes_iter().any(|(k, v)| {
                k.as_str() == "mapguard.map.name" && *v == AnyValue::from(map.to_owned())
            })
        })
        .collect();
    assert_eq!(records.len(), 1, "{map}: {records:?}");
    records.pop().unwrap()
}

fn get<'a>(v: &'a [(String, AnyValue)], key: &str) -> Option<&'a AnyValue> {
    v.iter().find(|(k, _)| k == key).map(|(_, a)| a)
}

#[test]
fn a_stack_skipped_in_a_burst_is_said_alike_on_both_paths() {
    let (paths, config) = TwoPaths::new();
    config
        // One release a second: the findings pile up behind the rate limit.
        .rate_limit(1)
        .queue_capacity(1 << 16)
        .backtrace(BacktraceMode::OnFinding)
        .install()
        .unwrap();
    let burst = STACKS_AHEAD + 20;
    let maps = fresh_maps("otel-burst", burst);
    for map in &maps {
        conflict(map);
    }
    assert!(mapguard::stats().stacks_skipped >= 1);
    mapguard::flush();

    // The first finding has its stack; the last was made with 256 waiting.
    for (map, skipped) in [(&maps[0], false), (&maps[burst - 1], true)] {
        let a = sorted_attributes(&event_on(&paths.via_tracing, map.name()));
        let b = sorted_attributes(&event_on(&paths.via_logger, map.name()));
        assert_eq!(a, b, "{}", map.name());
        assert_eq!(
            get(&a, "mapguard.backtrace_skipped"),
            skipped.then_some(&AnyValue::Boolean(true)),
            "{}: {a:?}",
            map.name()
        );
        assert_eq!(get(&a, "code.stacktrace").is_some(), !skipped, "{a:?}");
        assert!(get(&a, "code.line.number").is_some(), "{a:?}");
    }
}
